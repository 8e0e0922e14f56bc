package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var dbSeq atomic.Int64

// newDB returns a fresh database name.
func newDB(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e9, dbSeq.Add(1))
}

// seed fills db with patients (n documents with a unique index on mrn) and notes (n/2).
func seed(t testing.TB, db string, n int) {
	t.Helper()
	ctx := context.Background()
	d := mongoC.Database(db)
	pad := strings.Repeat("x", 200)
	var patients, notes []any
	for i := range n {
		patients = append(patients, bson.D{{Key: "_id", Value: fmt.Sprintf("p%05d", i)}, {Key: "tenantId", Value: "t1"}, {Key: "mrn", Value: i}, {Key: "name", Value: "Patient " + pad}})
		if i%2 == 0 {
			notes = append(notes, bson.D{{Key: "patientId", Value: fmt.Sprintf("p%05d", i)}, {Key: "text", Value: "note " + pad}, {Key: "at", Value: time.Unix(int64(i), 0).UTC()}})
		}
	}
	if _, err := d.Collection("patients").InsertMany(ctx, patients); err != nil {
		t.Fatal(err)
	}
	if len(notes) > 0 {
		if _, err := d.Collection("notes").InsertMany(ctx, notes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Collection("patients").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "tenantId", Value: 1}, {Key: "mrn", Value: 1}}, Options: options.Index().SetUnique(true).SetName("tenant_mrn")}); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns a comparable picture of a database: collection -> sorted documents as ext JSON,
// plus index names.
func snapshot(t testing.TB, db string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	d := mongoC.Database(db)
	names, err := d.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range names {
		if n == LogCollection {
			continue // bookkeeping of completed restores, checked separately
		}
		cur, err := d.Collection(n).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []string
		for cur.Next(ctx) {
			js, _ := bson.MarshalExtJSON(cur.Current, true, false)
			docs = append(docs, string(js))
		}
		cur.Close(ctx)
		idx, err := d.Collection(n).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range idx {
			docs = append(docs, "index:"+i.Name)
		}
		slices.Sort(docs)
		out[n] = docs
	}
	return out
}

func sameSnapshot(t testing.TB, got, want map[string][]string) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		var gn, wn []string
		for k, v := range got {
			gn = append(gn, fmt.Sprintf("%s(%d)", k, len(v)))
		}
		for k, v := range want {
			wn = append(wn, fmt.Sprintf("%s(%d)", k, len(v)))
		}
		slices.Sort(gn)
		slices.Sort(wn)
		t.Fatalf("database differs:\n got %v\nwant %v", gn, wn)
	}
}

type fixture struct {
	store  ObjectStore
	kms    KMS
	source string
	m      Manifest
}

// newBackup seeds a source database with n patients and backs it up into a fresh bucket.
func newBackup(t testing.TB, n int) fixture {
	t.Helper()
	src := newDB("src")
	seed(t, src, n)
	f := fixture{store: newBucket(t), kms: NewAWSKMS(kmsClient), source: src}
	m, err := Create(context.Background(), CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion, ChunkSize: 4096})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	f.m = m
	return f
}

func (f fixture) restore(target string, mod ...func(*RestoreOptions)) (RestoreReport, error) {
	o := RestoreOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, Target: mongoC, Database: target, Workers: 3, BatchDocs: 50}
	for _, fn := range mod {
		fn(&o)
	}
	return Restore(context.Background(), o)
}

func TestCreateAndRestoreRoundTrip(t *testing.T) {
	// GIVEN a backup of a database with two collections and a unique index
	f := newBackup(t, 300)
	if f.m.Documents != 450 || len(f.m.Collections) != 2 {
		t.Fatalf("manifest: %d documents in %d collections, want 450 in 2", f.m.Documents, len(f.m.Collections))
	}
	var progress []Progress
	// WHEN it is restored into an empty database
	target := newDB("dst")
	rep, err := f.restore(target, func(o *RestoreOptions) { o.Progress = func(p Progress) { progress = append(progress, p) } })
	// THEN the target equals the source, documents, indexes and all, and nothing reserved is left
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rep.Documents != 450 || !rep.Verified {
		t.Fatalf("report: %+v", rep)
	}
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
	// AND the target records the completed restore (a failover step's Check)
	rec, err := Restored(context.Background(), mongoC.Database(target), f.m.BackupID)
	if err != nil || rec == nil || rec.Documents != 450 || rec.PlaintextSHA256 != f.m.PlaintextSHA256 {
		t.Fatalf("Restored = %+v, %v", rec, err)
	}
	if rec, _ := Restored(context.Background(), mongoC.Database(target), "20200101T000000Z-00000000"); rec != nil {
		t.Fatalf("Restored(other) = %+v", rec)
	}
	if len(progress) == 0 || progress[len(progress)-1].Phase != "done" {
		t.Errorf("progress events missing: %v", progress)
	}
}

func TestRestoreRefusesNonEmptyTargetUnlessReplace(t *testing.T) {
	f := newBackup(t, 20)
	// GIVEN a target database with data of its own
	target := newDB("dst")
	seed(t, target, 7)
	mongoC.Database(target).Collection("extra").InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}})
	before := snapshot(t, target)
	// WHEN restoring without --replace
	_, err := f.restore(target)
	// THEN it is refused and the target is untouched
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("err = %v, want ErrTargetNotEmpty naming --replace", err)
	}
	sameSnapshot(t, snapshot(t, target), before)
	// WHEN restoring with Replace
	rep, err := f.restore(target, func(o *RestoreOptions) { o.Replace = true })
	// THEN the target holds exactly the backup (the extra collection is gone)
	if err != nil {
		t.Fatalf("Restore --replace: %v", err)
	}
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
	if !slices.Equal(rep.Replaced, []string{"extra", "notes", "patients"}) {
		t.Errorf("Replaced = %v", rep.Replaced)
	}
}

// objectBytes reads one stored object.
func objectBytes(t testing.TB, s ObjectStore, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putObject(t testing.TB, s ObjectStore, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func editManifest(t testing.TB, f fixture, edit func(*Manifest)) {
	t.Helper()
	var m Manifest
	if err := json.Unmarshal(objectBytes(t, f.store, ManifestKey(f.m.BackupID)), &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	b, _ := json.Marshal(m)
	putObject(t, f.store, ManifestKey(f.m.BackupID), b)
}

func TestRestoreErrorsLeaveTargetUntouched(t *testing.T) {
	patients := func(f fixture) string { return ObjectKey(f.m.BackupID, f.m.Collections[1].Object) }
	cases := []struct {
		name   string
		damage func(t *testing.T, f fixture, o *RestoreOptions)
		want   error
		says   string
	}{
		{"tampered chunk", func(t *testing.T, f fixture, o *RestoreOptions) {
			b := objectBytes(t, f.store, patients(f))
			b[len(b)/2] ^= 0x40
			putObject(t, f.store, patients(f), b)
		}, ErrTampered, "altered"},
		{"truncated object", func(t *testing.T, f fixture, o *RestoreOptions) {
			b := objectBytes(t, f.store, patients(f))
			putObject(t, f.store, patients(f), b[:len(b)-100])
		}, ErrTruncated, "truncated"},
		{"missing object", func(t *testing.T, f fixture, o *RestoreOptions) {
			putObject(t, f.store, patients(f), nil)
		}, ErrTruncated, "truncated"},
		{"wrong key", func(t *testing.T, f fixture, o *RestoreOptions) {
			o.KeyID = otherKey
		}, ErrWrongKey, "wrong KMS key"},
		{"wrapped key replaced by one under another key", func(t *testing.T, f fixture, o *RestoreOptions) {
			_, wrapped, _, err := f.kms.GenerateDataKey(context.Background(), otherKey, backupContext(f.m.BackupID, f.m.SourceRegion))
			if err != nil {
				t.Fatal(err)
			}
			editManifest(t, f, func(m *Manifest) { m.WrappedDataKey = wrapped })
		}, ErrManifestMismatch, "MAC"},
		{"wrong encryption context (region edited)", func(t *testing.T, f fixture, o *RestoreOptions) {
			editManifest(t, f, func(m *Manifest) {
				m.SourceRegion = "eu-central-1"
				m.EncryptionContext = backupContext(m.BackupID, m.SourceRegion)
			})
		}, ErrEncryptionContext, "encryption context"},
		{"encryption context field edited", func(t *testing.T, f fixture, o *RestoreOptions) {
			editManifest(t, f, func(m *Manifest) { m.EncryptionContext["caro:backup-id"] = "other" })
		}, ErrEncryptionContext, "encryption context"},
		{"manifest count edited", func(t *testing.T, f fixture, o *RestoreOptions) {
			editManifest(t, f, func(m *Manifest) { m.Collections[1].Count++ })
		}, ErrManifestMismatch, "MAC"},
		{"manifest of another backup", func(t *testing.T, f fixture, o *RestoreOptions) {
			editManifest(t, f, func(m *Manifest) { m.BackupID = NewBackupID(time.Now()) })
		}, ErrManifestMismatch, "names backup"},
		{"manifest not JSON", func(t *testing.T, f fixture, o *RestoreOptions) {
			putObject(t, f.store, ManifestKey(f.m.BackupID), []byte("{nope"))
		}, ErrManifestMismatch, "JSON"},
		{"unreachable target", func(t *testing.T, f fixture, o *RestoreOptions) {
			o.Target = nil
			o.TargetURI = "mongodb://127.0.0.1:1/"
			o.ConnectTimeout = time.Second
		}, ErrTargetUnreachable, "unreachable"},
	}
	for _, c := range cases {
		for _, skip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s skipPreverify=%v", c.name, skip), func(t *testing.T) {
				// GIVEN a backup damaged as named, and an empty target
				f := newBackup(t, 120)
				target := newDB("dst")
				o := RestoreOptions{}
				c.damage(t, f, &o)
				// WHEN it is restored
				_, err := f.restore(target, func(r *RestoreOptions) {
					r.SkipPreverify = skip
					if o.KeyID != "" {
						r.KeyID = o.KeyID
					}
					if o.TargetURI != "" {
						r.Target, r.TargetURI, r.ConnectTimeout = nil, o.TargetURI, o.ConnectTimeout
					}
				})
				// THEN it fails with the named kind, a message saying what to do, and the target stays empty
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "(") {
					t.Errorf("message %q should mention %q and a hint", err, c.says)
				}
				if names, _ := mongoC.Database(target).ListCollectionNames(context.Background(), bson.D{}); len(names) != 0 {
					t.Fatalf("target has collections after a failed restore: %v", names)
				}
				// AND with the pre-pass, a damaged backup never created anything at all
				if dbs, _ := mongoC.ListDatabaseNames(context.Background(), bson.D{}); !skip && slices.Contains(dbs, target) {
					t.Fatalf("target database %s was created although the backup was refused up front", target)
				}
			})
		}
	}
}

func TestRestoreFailureInjectionKeepsTarget(t *testing.T) {
	f := newBackup(t, 60)
	steps := []string{"loaded", "indexes", "erasures", "rename-existing:extra", "rename-existing:patients", "rename-stage:notes", "rename-stage:patients", "commit"}
	for _, step := range steps {
		for _, crash := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s crash=%v", step, crash), func(t *testing.T) {
				// GIVEN a target with data of its own
				target := newDB("dst")
				seed(t, target, 9)
				mongoC.Database(target).Collection("extra").InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}})
				before := snapshot(t, target)
				// WHEN a replace restore fails (or the process dies) at the step
				boom := errors.New("injected failure")
				if crash {
					boom = errCrash
				}
				_, err := f.restore(target, func(o *RestoreOptions) {
					o.Replace = true
					o.fail = func(s string) error {
						if s == step {
							return boom
						}
						return nil
					}
				})
				if !errors.Is(err, boom) {
					t.Fatalf("err = %v, want the injected failure", err)
				}
				// THEN the target is as it was (after Recover, for a crash)
				if crash {
					if err := Recover(context.Background(), mongoC.Database(target)); err != nil {
						t.Fatalf("Recover: %v", err)
					}
				}
				after := snapshot(t, target)
				for n := range after {
					if strings.HasPrefix(n, stagePrefix) && !crash {
						t.Fatalf("staging collection %s left behind", n)
					}
				}
				for n := range after {
					if strings.HasPrefix(n, stagePrefix) {
						delete(after, n) // a crash before the switch leaves staging; the next restore drops it
					}
				}
				sameSnapshot(t, after, before)
				if rec, _ := Restored(context.Background(), mongoC.Database(target), f.m.BackupID); rec != nil {
					t.Fatal("a failed restore was recorded as completed")
				}
				// AND a later restore succeeds
				if _, err := f.restore(target, func(o *RestoreOptions) { o.Replace = true }); err != nil {
					t.Fatalf("restore after failure: %v", err)
				}
				sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
			})
		}
	}
	t.Run("failure after commit completes the restore", func(t *testing.T) {
		target := newDB("dst")
		seed(t, target, 9)
		_, err := f.restore(target, func(o *RestoreOptions) {
			o.Replace = true
			o.fail = func(s string) error {
				if s == "cleanup" {
					return errCrash
				}
				return nil
			}
		})
		if !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
		if err := Recover(context.Background(), mongoC.Database(target)); err != nil {
			t.Fatal(err)
		}
		sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
	})
}

func TestVerify(t *testing.T) {
	f := newBackup(t, 80)
	// GIVEN an intact backup, WHEN verified, THEN it is OK and the scratch database is gone
	rep, err := Verify(context.Background(), VerifyOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, Scratch: mongoC})
	if err != nil || !rep.OK || rep.Documents != 120 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	dbs, _ := mongoC.ListDatabaseNames(context.Background(), bson.D{})
	if slices.Contains(dbs, rep.ScratchDatabase) {
		t.Errorf("scratch database %s was not dropped", rep.ScratchDatabase)
	}
	// GIVEN a damaged backup, WHEN verified, THEN it fails, names the problem, and cleans up
	key := ObjectKey(f.m.BackupID, f.m.Collections[0].Object)
	b := objectBytes(t, f.store, key)
	b[20] ^= 1
	putObject(t, f.store, key, b)
	rep, err = Verify(context.Background(), VerifyOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, Scratch: mongoC})
	if !errors.Is(err, ErrTampered) || rep.OK || rep.Problem == "" {
		t.Fatalf("Verify of tampered = %+v, %v", rep, err)
	}
	dbs, _ = mongoC.ListDatabaseNames(context.Background(), bson.D{})
	if slices.Contains(dbs, rep.ScratchDatabase) {
		t.Errorf("scratch database %s was not dropped after failure", rep.ScratchDatabase)
	}
}

func TestListShowsBackups(t *testing.T) {
	f := newBackup(t, 10)
	// an interrupted backup: data but no manifest
	putObject(t, f.store, ObjectKey(NewBackupID(time.Now()), "c0000.bin"), []byte("x"))
	got, err := List(context.Background(), f.store, f.m.CreatedAt.Add(time.Hour))
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %+v, %v", got, err)
	}
	s := got[0]
	if s.BackupID != f.m.BackupID || s.Age != time.Hour || s.Documents != 15 || s.Counts["patients"] != 10 || s.StoredBytes == 0 {
		t.Errorf("summary = %+v", s)
	}
}

func TestManifestNeverHoldsPlaintext(t *testing.T) {
	f := newBackup(t, 10)
	for _, c := range f.m.Collections {
		b := objectBytes(t, f.store, ObjectKey(f.m.BackupID, c.Object))
		if bytes.Contains(b, []byte("Patient")) || bytes.Contains(b, []byte("tenantId")) {
			t.Fatalf("object %s contains plaintext", c.Object)
		}
	}
	m := objectBytes(t, f.store, ManifestKey(f.m.BackupID))
	if bytes.Contains(m, []byte("Patient ")) {
		t.Fatal("manifest contains document data")
	}
}

func TestRestoreLargeDocuments(t *testing.T) {
	// GIVEN documents of 3 MiB next to small ones (batches must split below the 16 MiB command limit)
	src := newDB("big")
	big := strings.Repeat("z", 3<<20)
	var docs []any
	for i := range 6 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "blob", Value: big}})
		docs = append(docs, bson.D{{Key: "_id", Value: 100 + i}, {Key: "small", Value: true}})
	}
	for _, d := range docs {
		if _, err := mongoC.Database(src).Collection("files").InsertOne(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	store := newBucket(t)
	m, err := Create(context.Background(), CreateOptions{Source: mongoC, Database: src, Store: store, KMS: NewAWSKMS(kmsClient), KeyID: keyARN, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	// WHEN it is restored with the default batch budget
	target := newDB("bigdst")
	rep, err := Restore(context.Background(), RestoreOptions{BackupID: m.BackupID, Store: store, KMS: NewAWSKMS(kmsClient), Target: mongoC, Database: target})
	// THEN every document arrives
	if err != nil || rep.Documents != 12 {
		t.Fatalf("Restore = %+v, %v", rep, err)
	}
	n, _ := mongoC.Database(target).Collection("files").CountDocuments(context.Background(), bson.D{})
	if n != 12 {
		t.Fatalf("%d documents restored", n)
	}
}

func TestRestoreAfterCrashRecoversFirst(t *testing.T) {
	f := newBackup(t, 30)
	// GIVEN a target whose previous restore died in the middle of its switch
	target := newDB("dst")
	seed(t, target, 5)
	before := snapshot(t, target)
	_, err := f.restore(target, func(o *RestoreOptions) {
		o.Replace = true
		o.fail = func(s string) error {
			if s == "rename-stage:patients" {
				return errCrash
			}
			return nil
		}
	})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	// WHEN the target is inspected, THEN the marker says a switch is in progress
	if n, _ := mongoC.Database(target).Collection(markerCollection).CountDocuments(context.Background(), bson.D{}); n != 1 {
		t.Fatalf("marker documents = %d, want 1", n)
	}
	// WHEN Recover runs twice (idempotent) THEN the target is as before
	for range 2 {
		if err := Recover(context.Background(), mongoC.Database(target)); err != nil {
			t.Fatal(err)
		}
	}
	sameSnapshot(t, snapshot(t, target), before)
	// GIVEN another crash, WHEN the next restore runs without an explicit Recover
	f.restore(target, func(o *RestoreOptions) {
		o.Replace = true
		o.fail = func(s string) error {
			if s == "rename-stage:notes" {
				return errCrash
			}
			return nil
		}
	})
	if _, err := f.restore(target, func(o *RestoreOptions) { o.Replace = true }); err != nil {
		t.Fatalf("restore after crash: %v", err)
	}
	// THEN it rolled the crash back first and then restored; nothing reserved is left
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
}
