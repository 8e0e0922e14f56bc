package restore

import (
	"context"
	"errors"
	"github.com/carohealth/platform/internal/backup"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/objstore"
)

// deniedStore is a bucket the restore may not list (a missing permission on the second bucket).
type deniedStore struct{ backup.ObjectStore }

func (deniedStore) List(context.Context, string) ([]objstore.Info, error) {
	return nil, errors.New("s3 list erasures/: AccessDenied")
}

// TestRestoreReadsTheRegisterOfBothBuckets: a region's erasures are in its own backup bucket (its
// API's) and in its replica of the peer's (the peer's, while it served). A restore of an own
// backup taken before a failover, or one in the standby, must apply both.
func TestRestoreReadsTheRegisterOfBothBuckets(t *testing.T) {
	ctx := context.Background()
	// GIVEN a backup in the own bucket, Ada erased afterwards by this region's API (own bucket only)
	f := newErasureFixture(t)
	// AND Grace erased by the peer region while it served (only in the replica of its bucket)
	replica := newBucket(t)
	if err := erasure.NewRegister(replica).Record(ctx, erasure.Erasure{TenantID: f.c.tenant, PatientID: f.grace, ErasedAt: time.Now(), RequestID: "peer-1"}); err != nil {
		t.Fatal(err)
	}
	// WHEN the backup is restored with both registers
	rep, err := f.restore(f.source, func(o *testRestore) {
		o.Replace = true
		o.ErasureStores = []backup.ObjectStore{replica}
		o.ErasureStoreNames = []string{"s3://own", "s3://replica"}
	})
	if err != nil {
		t.Fatal(err)
	}
	// THEN both are erased again, and the report counts both
	data := personalData(t, f.source)
	for _, pd := range []string{"Ada note one", "Grace note", "Graceson", "Adason"} {
		if strings.Contains(data, `"`+pd+`"`) {
			t.Fatalf("%q is back after the restore: %s", pd, data)
		}
	}
	if rep.Erasures == nil || rep.Erasures.Registered != 2 || rep.Erasures.Patients != 2 {
		t.Fatalf("report erasures %+v", rep.Erasures)
	}
	// AND the reverse (the backup read from the replica, the own bucket holding the other erasure)
	// is the same union: a standby restore after a failback
	fresh := newDB("ebuckets")
	rep, err = f.restore(fresh, func(o *testRestore) { o.ErasureStores = []backup.ObjectStore{replica} })
	if err != nil || rep.Erasures.Registered != 2 || strings.Contains(personalData(t, fresh), `"Grace note"`) {
		t.Fatalf("fresh: %+v %v", rep.Erasures, err)
	}
}

// TestRestoreRefusesWhenOneRegisterBucketIsUnreadable: no partial union.
func TestRestoreRefusesWhenOneRegisterBucketIsUnreadable(t *testing.T) {
	// GIVEN a readable own bucket and a second bucket the restore may not list
	f := newErasureFixture(t)
	before := snapshot(t, f.source)
	// WHEN restoring with both
	_, err := f.restore(f.source, func(o *testRestore) {
		o.Replace = true
		o.ErasureStores = []backup.ObjectStore{deniedStore{newBucket(t)}}
		o.ErasureStoreNames = []string{"s3://own", "s3://replica"}
	})
	// THEN it refuses, naming the bucket, and the target is untouched
	if !errors.Is(err, ErrErasureRegister) || !strings.Contains(err.Error(), "s3://replica") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
	sameSnapshot(t, snapshot(t, f.source), before)
}
