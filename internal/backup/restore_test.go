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
	b, _ := encodeManifest(m) // the canonical form: only the edited field differs
	putObject(t, f.store, ManifestKey(f.m.BackupID), b)
}

func TestVerify(t *testing.T) {
	f := newBackup(t, 80)
	// GIVEN an intact backup, WHEN verified, THEN it is OK and the scratch database is gone
	rep, err := Verify(context.Background(), VerifyOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, AllowedKeys: []string{keyARN}, Scratch: mongoC})
	if err != nil || !rep.OK || rep.Documents != 120 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	dbs, _ := mongoC.ListDatabaseNames(context.Background(), bson.D{})
	if slices.Contains(dbs, rep.ScratchDatabase) {
		t.Errorf("scratch database %s was not dropped", rep.ScratchDatabase)
	}
	// GIVEN a damaged backup, WHEN verified, THEN it fails, names the problem, and cleans up
	key := f.m.ObjectKeys(f.m.Collections[0].Name)[0]
	b := objectBytes(t, f.store, key)
	b[20] ^= 1
	putObject(t, f.store, key, b)
	rep, err = Verify(context.Background(), VerifyOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, AllowedKeys: []string{keyARN}, Scratch: mongoC})
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
		for _, key := range f.m.ObjectKeys(c.Name) {
			b := objectBytes(t, f.store, key)
			if bytes.Contains(b, []byte("Patient")) || bytes.Contains(b, []byte("tenantId")) {
				t.Fatalf("object %s contains plaintext", key)
			}
		}
	}
	m := objectBytes(t, f.store, ManifestKey(f.m.BackupID))
	if bytes.Contains(m, []byte("Patient ")) {
		t.Fatal("manifest contains document data")
	}
}

// TestListOrdersBackupsOfOneSecondByTheirTime: a backup ID names its second and a random suffix,
// so two backups taken in the same second must not be ordered by the suffix: the newest first is
// the one taken last (the pre-stage and the failover plan take the first readable one).
func TestListOrdersBackupsOfOneSecondByTheirTime(t *testing.T) {
	store := newBucket(t)
	second := time.Date(2026, 12, 7, 1, 23, 45, 0, time.UTC)
	// GIVEN two backups of the same second whose random suffixes sort against their times
	earlier, later := NewBackupID(second)[:16]+"-ffffffff", NewBackupID(second)[:16]+"-00000000"
	for id, at := range map[string]time.Time{earlier: second.Add(100 * time.Millisecond), later: second.Add(900 * time.Millisecond)} {
		raw, err := json.Marshal(Manifest{FormatVersion: FormatVersion, BackupID: id, Database: "app", SourceRegion: testRegion, CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		putObject(t, store, ManifestKey(id), raw)
	}
	// AND an older backup of the second before
	older := NewBackupID(second.Add(-time.Second))
	raw, _ := json.Marshal(Manifest{FormatVersion: FormatVersion, BackupID: older, Database: "app", SourceRegion: testRegion, CreatedAt: second.Add(-time.Second)})
	putObject(t, store, ManifestKey(older), raw)
	// WHEN they are listed
	got, err := List(context.Background(), store, second.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// THEN the newest is the one taken last
	var ids []string
	for _, s := range got {
		ids = append(ids, s.BackupID)
	}
	if want := []string{later, earlier, older}; !slices.Equal(ids, want) {
		t.Fatalf("List order %v, want %v (newest first)", ids, want)
	}
}
