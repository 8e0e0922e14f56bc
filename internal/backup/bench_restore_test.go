package backup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/localstack"
)

// TestBenchRestore is `make bench-restore`: 50,000 records of about 1 KB restored into FerretDB by
// `caro backup restore` (decrypting and verifying everything) and by mongorestore 100.10.0
// --noIndexRestore from a mongodump of the same data, into the same server, one run each. It
// prints records/s of both and the ratio. It only runs when CARO_BENCH_RESTORE=1 (with CARO_BIN
// naming a caro binary), so `make test` never times anything.
func TestBenchRestore(t *testing.T) {
	if os.Getenv("CARO_BENCH_RESTORE") != "1" {
		t.Skip("benchmark: run with make bench-restore")
	}
	caroBin := os.Getenv("CARO_BIN")
	cache, err := localstack.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := localstack.Install("mongotools"); err != nil {
		t.Fatal(err)
	}
	n := 50000
	ctx := context.Background()

	// GIVEN 50,000 documents of ~1 KB in a source database
	src := "bench_src"
	pad := strings.Repeat("abcdefghij", 95)
	batch := make([]any, 0, 1000)
	for i := range n {
		batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("rec%06d", i)}, {Key: "tenantId", Value: fmt.Sprintf("t%d", i%50)}, {Key: "seq", Value: i}, {Key: "body", Value: pad}})
		if len(batch) == cap(batch) {
			if _, err := mongoC.Database(src).Collection("records").InsertMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// AND an encrypted backup of it in S3, and a mongodump of it on disk
	bucket := "bench"
	if _, err := s3Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	store := NewS3Store(s3Client, bucket, "")
	m, err := Create(ctx, CreateOptions{Source: mongoC, Database: src, Store: store, KMS: NewAWSKMS(kmsClient), KeyID: keyARN, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	dump := t.TempDir()
	runTool(t, filepath.Join(cache, "bin", "mongodump"), nil, "--uri", ferret.URI(), "--db", src, "--out", dump, "--quiet")

	env := []string{
		"AWS_ACCESS_KEY_ID=" + localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ENDPOINT_URL_S3=" + s3Srv.Endpoint(), "AWS_ENDPOINT_URL_KMS=" + kmsSrv.Endpoint(),
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
	}
	if caroBin == "" {
		caroBin = filepath.Join(t.TempDir(), "caro")
		runTool(t, "go", nil, "build", "-o", caroBin, "../../cmd/caro")
	}
	// One run each by default; BENCH_ROUNDS=n alternates n runs of each (the machine is shared, so
	// alternating spreads load changes over both) and keeps each tool's best.
	rounds := 1
	fmt.Sscan(os.Getenv("BENCH_ROUNDS"), &rounds)
	mrSecs, caroSecs := 0.0, 0.0
	// The server's CPU time during each tool's best run shows who waits on whom: FerretDB's SQLite
	// backend writes in one transaction at a time, so a server busy for the whole run is the ceiling
	// for any client.
	mrServer, caroServer := 0.0, 0.0
	serverCPU := func() float64 {
		d, err := ferret.CPUTime()
		if err != nil {
			return 0
		}
		return d.Seconds()
	}
	for r := range max(rounds, 1) {
		mrDB, caroDB := fmt.Sprintf("bench_mongorestore_%d", r), fmt.Sprintf("bench_caro_%d", r)
		// WHEN mongorestore restores it
		t0, s0 := time.Now(), serverCPU()
		runTool(t, filepath.Join(cache, "bin", "mongorestore"), nil, "--uri", ferret.URI(), "--noIndexRestore", "--nsFrom", src+".*", "--nsTo", mrDB+".*", "--quiet", dump)
		if d := time.Since(t0).Seconds(); mrSecs == 0 || d < mrSecs {
			mrSecs, mrServer = d, serverCPU()-s0
		}
		// AND caro backup restore restores it (fetch, authenticate, decrypt, decompress, hash, insert, switch)
		t1, s1 := time.Now(), serverCPU()
		runTool(t, caroBin, env, "backup", "restore", m.BackupID, "--bucket", bucket, "--region", testRegion, "--kms-key", keyARN, "--target", ferret.URI(), "--database", caroDB, "-o", "json")
		if d := time.Since(t1).Seconds(); caroSecs == 0 || d < caroSecs {
			caroSecs, caroServer = d, serverCPU()-s1
		}
		// THEN both restored every record
		for _, db := range []string{mrDB, caroDB} {
			c, err := mongoC.Database(db).Collection("records").CountDocuments(ctx, bson.D{})
			if err != nil || c != int64(n) {
				t.Fatalf("%s holds %d records, want %d (%v)", db, c, n, err)
			}
			mongoC.Database(db).Drop(ctx)
		}
	}

	// print the comparison
	mr, caro := float64(n)/mrSecs, float64(n)/caroSecs
	fmt.Printf("\nbench-restore: %d records of ~1 KB into FerretDB v1.24.0 (SQLite), best of %d run(s) each\n", n, max(rounds, 1))
	fmt.Printf("  %-39s %8s %13s %22s\n", "", "wall", "records/s", "server CPU (busy)")
	fmt.Printf("  %-39s %6.2f s %13.0f %10.2f s (%3.0f%%)\n", "mongorestore 100.10.0 --noIndexRestore", mrSecs, mr, mrServer, 100*mrServer/mrSecs)
	fmt.Printf("  %-39s %6.2f s %13.0f %10.2f s (%3.0f%%)\n", "caro backup restore (decrypt+verify)", caroSecs, caro, caroServer, 100*caroServer/caroSecs)
	fmt.Printf("  ratio caro/mongorestore: %.2fx (goal >= 1.5x)\n", caro/mr)
	if caroServer > 0 && caroServer/caroSecs > 0.9 {
		fmt.Printf("  the server was busy for %.0f%% of caro's run: FerretDB (one SQLite writer) is the limit, not the client\n", 100*caroServer/caroSecs)
	}
}

func runTool(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}
