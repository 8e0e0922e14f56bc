package restore

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/retention"
)

// TestARestoreDoesNotBringBackRecordsPastTheirRetention: a backup taken before the daily retention
// job expired a record holds it; restoring that backup must not put it back until the next daily
// run. The restore expires, by the job's rule, what is past the region's retention.
func TestARestoreDoesNotBringBackRecordsPastTheirRetention(t *testing.T) {
	ctx := context.Background()
	// GIVEN a database written by the API: one record last changed ten years ago, one recent
	src := newDB("rsrc")
	f := fixture{store: newBucket(t), kms: backup.NewAWSKMS(kmsClient), source: src}
	c := newAPIClient(t, src, f.store)
	old := c.patient("Oldrecord", "Oldrecord note")
	c.patient("Recent", "Recent note")
	tenYearsAgo := time.Now().UTC().AddDate(-10, 0, 0)
	db := mongoC.Database(src)
	res, err := db.Collection(api.PatientsCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: c.tenant + ":" + old}, {Key: "tenantId", Value: c.tenant}},
		bson.D{{Key: "$set", Value: bson.D{{Key: retention.FieldUpdatedAt, Value: tenYearsAgo}}}})
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("ageing the old record: %+v %v", res, err)
	}
	if _, err := db.Collection(api.NotesCollection).UpdateMany(ctx, bson.D{{Key: "patientId", Value: old}, {Key: "tenantId", Value: c.tenant}},
		bson.D{{Key: "$set", Value: bson.D{{Key: retention.FieldUpdatedAt, Value: tenYearsAgo}}}}); err != nil {
		t.Fatal(err)
	}
	// AND a backup of it
	if f.m, err = backup.Create(ctx, backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion}); err != nil {
		t.Fatal(err)
	}
	// WHEN it is restored without a retention setting (as before this fix) THEN the record is back
	plain := newDB("rplain")
	if _, err := f.restore(plain); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(personalData(t, plain), `"Oldrecord"`) {
		t.Fatal("the fixture's old record is not in the backup")
	}
	// WHEN it is restored with the region's retention of 9 years
	target := newDB("rret")
	rep, err := f.restore(target, func(o *testRestore) { o.RetentionYears = 9 })
	if err != nil {
		t.Fatal(err)
	}
	// THEN the record past its retention is expired and erased, the recent one kept, and the
	// report says so
	data := personalData(t, target)
	for _, gone := range []string{`"Oldrecord"`, `"Oldrecordson"`, `"Oldrecord note"`} {
		if strings.Contains(data, gone) {
			t.Errorf("%s came back with the restore: %s", gone, data)
		}
	}
	for _, kept := range []string{`"Recent"`, `"Recent note"`} {
		if !strings.Contains(data, kept) {
			t.Errorf("%s lost: %s", kept, data)
		}
	}
	if rep.Retention == nil || rep.Retention.Expired != 1 || rep.Retention.Years != 9 || !rep.Retention.Complete {
		t.Fatalf("report retention: %+v", rep.Retention)
	}
	// AND a second restore of the same backup expires it again (idempotent, same result)
	rep, err = f.restore(target, func(o *testRestore) { o.Replace = true; o.RetentionYears = 9 })
	if err != nil || rep.Retention == nil || rep.Retention.Expired != 1 || strings.Contains(personalData(t, target), `"Oldrecord"`) {
		t.Fatalf("second restore: %+v %v", rep, err)
	}
}
