package prestage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/restore"
)

var seq atomic.Int64

func newDB(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// backupOf seeds n records into a fresh database and backs it up into store.
func backupOf(t *testing.T, store backup.ObjectStore, n int) (string, backup.Manifest) {
	t.Helper()
	ctx := context.Background()
	src := newDB("src")
	var docs []any
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("r%05d", i)}, {Key: "n", Value: i}})
	}
	if _, err := mongoC.Database(src).Collection("records").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Create(ctx, backup.CreateOptions{Source: mongoC, Database: src, Store: store, KMS: backup.NewAWSKMS(kmsClient), KeyID: keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	return src, m
}

func count(t *testing.T, db string) int64 {
	t.Helper()
	n, err := mongoC.Database(db).Collection("records").CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func opts(store backup.ObjectStore, db string) Options {
	return Options{Target: mongoC, Database: db, Store: store, KMS: backup.NewAWSKMS(kmsClient), AllowedKeys: []string{keyARN},
		Erasures: erasure.BucketsRegister(nil, store), Region: "eu-central-1", Source: "eu-west-1", Settle: time.Millisecond}
}

func findings(s State, check string) []string {
	var out []string
	for _, f := range s.Findings {
		if f.Check == check {
			out = append(out, f.Severity+": "+f.Message)
		}
	}
	return out
}

func TestEveryArrivingBackupIsStagedRecordedAndSeenByReadiness(t *testing.T) {
	ctx := context.Background()
	store := newBucket(t)
	standby := newDB("standby")
	_, a := backupOf(t, store, 40)
	// GIVEN a backup arrived and nothing is staged, THEN readiness says the standby is behind
	st, err := Status(ctx, StatusOptions{Store: store, Source: "eu-west-1"})
	if err != nil || !st.Behind || len(findings(st, "prestage")) == 0 {
		t.Fatalf("status before any pre-stage: %+v, %v", st, err)
	}
	// WHEN the standby pre-stages it
	rec, err := Run(ctx, opts(store, standby))
	if err != nil {
		t.Fatal(err)
	}
	// THEN the record has the backup, documents, verified and seconds, and so has latest.json
	if rec.State != StateStaged || rec.BackupID != a.BackupID || rec.Documents != 40 || !rec.Verified || rec.Seconds <= 0 || rec.Staged != a.BackupID {
		t.Fatalf("record: %+v", rec)
	}
	if l, _ := Latest(ctx, store); l == nil || l.BackupID != a.BackupID || l.State != StateStaged {
		t.Fatalf("latest: %+v", l)
	}
	if count(t, standby) != 40 {
		t.Fatalf("standby holds %d records", count(t, standby))
	}
	// AND readiness sees the standby staged, with no finding
	st, _ = Status(ctx, StatusOptions{Store: store, Source: "eu-west-1"})
	if st.Behind || len(st.Findings) != 0 || !strings.HasPrefix(st.FailoverRTO, "staged") {
		t.Fatalf("status after the pre-stage: %+v", st)
	}
	// WHEN it runs again with nothing new, THEN nothing is restored
	if again, err := Run(ctx, opts(store, standby)); err != nil || again.State != StateCurrent {
		t.Fatalf("second run: %+v, %v", again, err)
	}
	// WHEN a newer backup arrives (within the same second, as likely as not) and is staged, THEN it
	// replaces the copy and the old copy is gone
	_, b := backupOf(t, store, 25)
	if rec, err := Run(ctx, opts(store, standby)); err != nil || rec.BackupID != b.BackupID || rec.Problem != "" {
		t.Fatalf("run of B: %+v, %v", rec, err)
	}
	if count(t, standby) != 25 {
		t.Fatalf("standby holds %d records, want B's 25", count(t, standby))
	}
	if kept, _ := restore.ListKept(ctx, mongoC.Database(standby)); len(kept) != 0 {
		t.Fatalf("the previous staged copy is still kept: %+v", kept)
	}
	// AND the history holds one record per pre-stage (the restore tests' evidence)
	if h, _ := History(ctx, store); len(h) != 2 {
		t.Fatalf("history: %+v", h)
	}
}

func TestAnUnverifiedBackupIsNeverStaged(t *testing.T) {
	ctx := context.Background()
	store := newBucket(t)
	standby := newDB("standby")
	_, a := backupOf(t, store, 30)
	if _, err := Run(ctx, opts(store, standby)); err != nil {
		t.Fatal(err)
	}
	// GIVEN a newer backup whose data was damaged
	_, b := backupOf(t, store, 50)
	key := b.ObjectKeys("records")[0]
	rc, _ := store.Get(ctx, key)
	raw := make([]byte, 0)
	buf := make([]byte, 1<<16)
	for {
		n, err := rc.Read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			break
		}
	}
	rc.Close()
	raw[len(raw)/2] ^= 1
	if err := store.Put(ctx, key, strings.NewReader(string(raw)), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	// WHEN the standby pre-stages it
	rec, err := Run(ctx, opts(store, standby))
	// THEN it fails, the standby keeps A's verified copy, guarded, and the record says so
	if !errors.Is(err, backup.ErrTampered) || rec.State != StateFailed || rec.Staged != a.BackupID {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if count(t, standby) != 30 {
		t.Fatalf("standby holds %d records, want A's 30", count(t, standby))
	}
	if s, _ := maintenance.Get(ctx, mongoC.Database(standby)); s == nil || s.Owner != restore.StandbyOwner {
		t.Fatalf("switch %+v", s)
	}
	// AND readiness says the last pre-stage failed and the standby is behind
	st, _ := Status(ctx, StatusOptions{Store: store})
	got := strings.Join(findings(st, "prestage"), "\n")
	if !st.Behind || !strings.Contains(got, "failed") || !strings.Contains(got, "behind") || st.Staged != a.BackupID {
		t.Fatalf("status: %+v", st)
	}
}

func TestALiveDatabaseIsNeverPrestagedOver(t *testing.T) {
	ctx := context.Background()
	store := newBucket(t)
	backupOf(t, store, 10)
	// GIVEN a database that serves traffic (data, no staged copy)
	live, _ := backupOf(t, newBucket(t), 7)
	// WHEN the pre-stage runs against it
	rec, err := Run(ctx, opts(store, live))
	// THEN it leaves it alone and says why
	if err != nil || !strings.Contains(rec.Problem, "live") || count(t, live) != 7 {
		t.Fatalf("record %+v, %v (%d records)", rec, err, count(t, live))
	}
}

func TestReadinessBlocksWhenTheBackupScheduleStopped(t *testing.T) {
	ctx := context.Background()
	store := newBucket(t)
	_, a := backupOf(t, store, 5)
	// WHEN readiness looks 13 hours after the newest backup of a 6-hourly schedule
	st, err := Status(ctx, StatusOptions{Store: store, Interval: 6 * time.Hour, Now: a.CreatedAt.Add(13 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// THEN it is a blocker naming the data a failover would lose
	got := findings(st, "backup-schedule")
	if len(got) != 1 || !strings.HasPrefix(got[0], Blocker) || !strings.Contains(got[0], "13h0m") {
		t.Fatalf("findings: %v", st.Findings)
	}
}
