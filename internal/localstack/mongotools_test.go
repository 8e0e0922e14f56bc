package localstack_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/localstack"
)

func TestMongoToolsDumpRestoreFerretDB(t *testing.T) {
	// GIVEN a collection with documents in the package's FerretDB
	ctx := context.Background()
	client := connect(t, ferret.URI())
	src := client.Database("tools_src").Collection("notes")
	if _, err := src.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "n1"}, {Key: "text", Value: "first"}},
		bson.D{{Key: "_id", Value: "n2"}, {Key: "text", Value: "second"}},
	}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	dump, err := localstack.MongoTool("mongodump")
	if err != nil {
		t.Fatal(err)
	}
	restore, err := localstack.MongoTool("mongorestore")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "dump.archive")

	// WHEN it is dumped to an archive and restored under another database name
	runTool(t, dump, "--uri="+ferret.URI(), "--db=tools_src", "--archive="+archive, "--quiet")
	runTool(t, restore, "--uri="+ferret.URI(), "--archive="+archive, "--noIndexRestore",
		"--nsFrom=tools_src.*", "--nsTo=tools_dst.*", "--quiet")

	// THEN the copy has the same documents
	n, err := client.Database("tools_dst").Collection("notes").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 2 {
		t.Fatalf("restored %d documents, want 2", n)
	}
	if _, err := localstack.MongoTool("mongoexport"); err == nil {
		t.Error("MongoTool(mongoexport) succeeded, want an error (not built)")
	}
}

func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out.String())
	}
}
