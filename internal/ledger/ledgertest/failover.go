package ledgertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
)

// Failover is a ledger failed over from region A to region B on the local servers: A's writer
// appended and checkpointed with key A into bucket A; a backup of A's database was restored into B's
// database and recovered from Replica (B's copy of bucket A, as S3 replication keeps it); B's writer
// then continued the numbering with key B into bucket B.
type Failover struct {
	A, B    *Env
	Replica *ledger.CheckpointBucket
	// IDs are the event IDs of every entry of B's ledger, by sequence number.
	IDs []string
}

// NewFailover builds the scenario: A appends primary entries (backup taken after backupAt), B
// recovers and appends standby more; checkpoints every interval entries in both regions.
func (s *Servers) NewFailover(tb testing.TB, backupAt, primary, standby int, interval uint64) *Failover {
	tb.Helper()
	ctx := context.Background()
	f := &Failover{A: s.NewEnv(tb)}
	f.IDs = f.A.AppendAndCheckpoint(tb, 0, backupAt, interval)
	backup := TakeSnapshot(tb, f.A.DB)
	f.A.AppendAndCheckpoint(tb, backupAt, primary, interval)
	f.Replica = f.A.Replicate(tb)
	f.B = s.NewEnv(tb)
	backup.RestoreInto(tb, f.B.DB)
	pubA, err := ledger.ParsePublicKey(f.A.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: ledger.NewMongoStore(f.B.DB), Checkpoints: f.Replica, Locks: f.Replica,
		PublicKeys: ledger.KeyRing{f.A.Signer.Key: pubA}})
	if err != nil {
		tb.Fatalf("recovering region B's ledger: %v", err)
	}
	if rep.EntriesRecovered == 0 {
		tb.Fatalf("recovery recovered nothing: %+v", rep)
	}
	// The replica has the entries too (they are in the checkpoints): take the IDs from B's store.
	f.IDs = nil
	f.B.Store = ledger.NewMongoStore(f.B.DB) // a writer started after the restore
	if err := f.B.Store.ScanEntries(ctx, 0, func(e ledger.Entry) error { f.IDs = append(f.IDs, e.EventID); return nil }); err != nil {
		tb.Fatal(err)
	}
	f.IDs = append(f.IDs, f.B.AppendAndCheckpoint(tb, primary, primary+standby, interval)...)
	return f
}

// KeyRing pins both regions' signing keys.
func (f *Failover) KeyRing(tb testing.TB) ledger.KeyRing {
	tb.Helper()
	ring, err := ledger.NewKeyRing(map[string][]byte{f.A.Signer.Key: f.A.PublicKey, f.B.Signer.Key: f.B.PublicKey})
	if err != nil {
		tb.Fatal(err)
	}
	return ring
}

// Merged reads region B's own bucket and its replica of A's.
func (f *Failover) Merged() *ledger.MergedCheckpoints {
	return ledger.NewMergedCheckpoints(ledger.BucketSource(f.B.Bucket), ledger.BucketSource(f.Replica))
}

// AppendAndCheckpoint appends events from..to-1 (by index, for distinct contents) and runs the
// env's checkpointer after each, as the audit writer does; it returns their event IDs.
func (e *Env) AppendAndCheckpoint(tb testing.TB, from, to int, interval uint64) []string {
	tb.Helper()
	ctx := context.Background()
	l := &ledger.Ledger{Store: e.Store}
	cpr := e.Checkpointer(interval)
	var ids []string
	for i := from; i < to; i++ {
		tenant := "tenant-a"
		if i%2 == 0 {
			tenant = "tenant-b"
		}
		ev := audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: "sub-1", TenantID: tenant, Action: "patient:write",
			ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", i), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", i),
			AfterHash: fmt.Sprintf("%064x", i+1)}
		if _, _, err := l.Append(ctx, ev); err != nil {
			tb.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// Replicate copies every checkpoint object of e's bucket, with its Object Lock, into a new bucket
// named <bucket>-replica, as S3 replication does into the peer region's CaroReplica bucket.
func (e *Env) Replicate(tb testing.TB) *ledger.CheckpointBucket {
	tb.Helper()
	ctx := context.Background()
	name := e.BucketName + "-replica"
	if err := e.Servers.S3.CreateBucket(name); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		tb.Fatal(err)
	}
	stored, err := e.Bucket.ListCheckpoints(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, sc := range stored {
		out, err := e.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.BucketName), Key: aws.String(sc.Key)})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		r, err := e.Bucket.Retention(ctx, sc.Key)
		if err != nil {
			tb.Fatal(err)
		}
		e.PutLocked(tb, name, sc.Key, body, r)
	}
	return &ledger.CheckpointBucket{Client: e.S3, Name: name}
}

// PutLocked writes body to bucket/key with the Object Lock r (as replication or an attacker with
// write access to an empty key would).
func (e *Env) PutLocked(tb testing.TB, bucket, key string, body []byte, r ledger.Retention) {
	tb.Helper()
	if _, err := e.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ObjectLockMode: s3types.ObjectLockMode(r.Mode), ObjectLockRetainUntilDate: aws.Time(r.RetainUntil),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		tb.Fatal(err)
	}
}
