package localstack_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/localstack"
)

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

func TestFerretDBInsertFind(t *testing.T) {
	// GIVEN the package's FerretDB
	if !strings.HasPrefix(ferret.URI(), "mongodb://127.0.0.1:") {
		t.Fatalf("URI() = %q, want mongodb://127.0.0.1:PORT/", ferret.URI())
	}
	ctx := context.Background()
	coll := connect(t, ferret.URI()).Database("localstack_test").Collection("patients")

	// WHEN a document is inserted
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "p1"}, {Key: "name", Value: "Ada"}}); err != nil {
		t.Fatalf("insert: %v", err)
	}

	// THEN it can be found again
	var got struct{ Name string }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "p1"}}).Decode(&got); err != nil {
		t.Fatalf("find: %v", err)
	}
	if got.Name != "Ada" {
		t.Fatalf("name = %q, want Ada", got.Name)
	}

	// AND a unique index is enforced (the atomicity tool FerretDB gives us instead of transactions)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "p1"}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("second insert of p1: err = %v, want a duplicate key error", err)
	}
}

func TestFerretDBStopFreesPortAndData(t *testing.T) {
	// GIVEN a FerretDB of this test's own
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := localstack.StartFerretDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(t, db.URI()).Ping(ctx, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}

	// WHEN it is stopped (twice: Stop is idempotent)
	if err := db.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := db.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// THEN its port is free again
	assertPortFree(t, db.Addr())
}

func TestStartFerretDBForTest(t *testing.T) {
	db := localstack.StartFerretDBForTest(t)
	if err := connect(t, db.URI()).Ping(context.Background(), nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestCacheDirHonoursCaroCache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARO_CACHE", dir)
	got, err := localstack.CacheDir()
	if err != nil || got != dir {
		t.Fatalf("CacheDir() = %q, %v; want %q", got, err, dir)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root + "/scripts/install-servers.sh"); err != nil {
		t.Fatalf("RepoRoot() = %q has no install script: %v", root, err)
	}
}

func TestFerretDBCPUTimeGrows(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is read from /proc")
	}
	// GIVEN the package's FerretDB and its CPU time so far
	before, err := ferret.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	// WHEN it does some work
	coll := connect(t, ferret.URI()).Database("localstack_test").Collection("cpu")
	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = bson.D{{Key: "n", Value: i}, {Key: "pad", Value: strings.Repeat("x", 500)}}
	}
	if _, err := coll.InsertMany(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	// THEN its CPU time has grown
	after, err := ferret.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPUTime() = %s after inserting 2,000 documents, was %s: want it to grow", after, before)
	}
}
