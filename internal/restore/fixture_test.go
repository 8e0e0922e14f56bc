package restore

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
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

// snapshot returns a comparable picture of a database's application collections: collection ->
// sorted documents as ext JSON, plus index names. Reserved collections (_caro_*) are left out:
// the marker, the restore log, kept-aside collections are checked separately.
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
		if strings.HasPrefix(n, backup.ReservedPrefix) {
			continue
		}
		out[n] = collectionPicture(t, d.Collection(n))
	}
	return out
}

func collectionPicture(t testing.TB, c *mongo.Collection) []string {
	t.Helper()
	ctx := context.Background()
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for cur.Next(ctx) {
		js, _ := bson.MarshalExtJSON(cur.Current, true, false)
		docs = append(docs, string(js))
	}
	cur.Close(ctx)
	idx, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range idx {
		docs = append(docs, "index:"+i.Name)
	}
	slices.Sort(docs)
	return docs
}

// reserved lists db's reserved collections (staging, kept, marker...).
func reserved(t testing.TB, db string, prefix string) []string {
	t.Helper()
	names, err := mongoC.Database(db).ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
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
	store  backup.ObjectStore
	bucket string
	kms    backup.KMS
	source string
	m      backup.Manifest
}

// newBackup seeds a source database with n patients and backs it up into a fresh bucket.
func newBackup(t testing.TB, n int) fixture {
	t.Helper()
	src := newDB("src")
	seed(t, src, n)
	f := fixture{kms: backup.NewAWSKMS(kmsClient), source: src}
	f.store, f.bucket = newNamedBucket(t)
	m, err := backup.Create(context.Background(), backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion, ChunkSize: 4096})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	f.m = m
	return f
}

// testRestore is one restore's options, both halves.
type testRestore struct {
	Options
	BackupSource
	// ErasureStores and ErasureStoreNames are further register buckets read with the backup's.
	ErasureStores     []backup.ObjectStore
	ErasureStoreNames []string
	fail              func(step string) error
}

// restore restores f's backup into target with the test defaults (the backup bucket's register,
// the region's and the peer's keys accepted, a short settle, in-process crashes taken for dead).
func (f fixture) restore(target string, mod ...func(*testRestore)) (*Report, error) {
	o := testRestore{
		Options:      Options{Target: mongoC, Database: target, Settle: time.Millisecond},
		BackupSource: BackupSource{ReadOptions: backup.ReadOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, AllowedKeys: []string{keyARN, peerKey}}, Workers: 3, BatchDocs: 50},
	}
	for _, fn := range mod {
		fn(&o)
	}
	if o.Erasures == nil {
		o.Erasures = erasure.BucketsRegister(o.ErasureStoreNames, append([]backup.ObjectStore{o.Store}, o.ErasureStores...)...)
	}
	o.hooks = &hooks{fail: o.fail, dead: func(Run) bool { return true }}
	return Backup(context.Background(), o.Options, o.BackupSource)
}

// recoverDB runs Recover on db with the test defaults.
func recoverDB(t testing.TB, db string, reg erasure.Source) *Recovery {
	t.Helper()
	rec, err := Recover(context.Background(), mongoC.Database(db), Options{Erasures: reg, hooks: &hooks{dead: func(Run) bool { return true }}})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return rec
}

func objectBytes(t testing.TB, s backup.ObjectStore, key string) []byte {
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

func putObject(t testing.TB, s backup.ObjectStore, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}
