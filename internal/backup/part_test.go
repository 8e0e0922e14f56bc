package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/localstack"
)

// Environment of the range worker the kill test starts (this test binary, see TestMain).
const (
	envPartWorker = "CARO_TEST_PART_WORKER"
	envPartSpec   = "CARO_TEST_PART_SPEC"
)

// partWorkerSpec is what the test tells its worker process.
type partWorkerSpec struct {
	SourceURI, S3, KMS, Bucket, Key, BackupID, Paused string
	Stream                                            uint32
	PauseAt                                           int64
}

// partWorkerMain runs one part like an engine's worker and, at PauseAt documents, says so (the
// Paused file) and waits to be killed.
func partWorkerMain() int {
	var s partWorkerSpec
	if err := json.Unmarshal([]byte(os.Getenv(envPartSpec)), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	partHook = func(n int64) {
		if n == s.PauseAt {
			_ = os.WriteFile(s.Paused, []byte(strconv.Itoa(os.Getpid())), 0o600)
			time.Sleep(time.Minute)
		}
	}
	kc := kms.NewFromConfig(localstack.AWSConfig(testRegion, s.KMS))
	sc := s3.NewFromConfig(localstack.AWSConfig(testRegion, s.S3), func(o *s3.Options) { o.UsePathStyle = true })
	_, err := RunPart(context.Background(), PartOptions{BackupID: s.BackupID, Stream: s.Stream, SourceURI: s.SourceURI,
		Store: NewS3Store(sc, s.Bucket, ""), KMS: NewAWSKMS(kc), AllowedKeys: []string{s.Key}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestCreateSealsRangesThatRestoreExactly(t *testing.T) {
	// GIVEN 3,000 patients and 1,500 notes
	src := newDB("parts")
	seed(t, src, 3000)
	store := newBucket(t)
	// WHEN they are backed up in parts of about 500 documents by three workers
	m, err := Create(context.Background(), CreateOptions{Source: mongoC, Database: src, Store: store, KMS: NewAWSKMS(kmsClient), KeyID: keyARN,
		Region: testRegion, ChunkSize: 4096, PartDocuments: 500, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the manifest lists every collection by its contiguous _id ranges, one object each
	if m.FormatVersion != FormatVersion || m.Documents != 4500 {
		t.Fatalf("manifest version %d, %d documents", m.FormatVersion, m.Documents)
	}
	for _, c := range m.Collections {
		if len(c.Parts) < 3 {
			t.Errorf("collection %s sealed in %d parts, want at least 3", c.Name, len(c.Parts))
		}
		var sum int64
		for i, p := range c.Parts {
			if (i == 0) != (len(p.Lo) == 0) || (i == len(c.Parts)-1) != (len(p.Hi) == 0) || (i > 0 && string(p.Lo) != string(c.Parts[i-1].Hi)) {
				t.Errorf("%s part %d covers [%s, %s): the ranges must be contiguous and open at both ends", c.Name, i, p.Lo, p.Hi)
			}
			sum += p.Count
		}
		if sum != c.Count {
			t.Errorf("%s: parts hold %d documents, the collection %d", c.Name, sum, c.Count)
		}
	}
	// AND restoring it gives back exactly the source
	assertRestoresTo(t, store, m.BackupID, src)
}

func TestRangeWorkerKilledMidRangeIsRetried(t *testing.T) {
	ctx := context.Background()
	// GIVEN a backup planned in several ranges
	src := newDB("killed")
	seed(t, src, 2000)
	bucket := fmt.Sprintf("k%d", time.Now().UnixNano())
	if _, err := s3Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	store := NewS3Store(s3Client, bucket, "")
	k := NewAWSKMS(kmsClient)
	plan, err := PlanBackup(ctx, PlanOptions{Source: mongoC, Database: src, Store: store, KMS: k, KeyID: keyARN, Region: testRegion, ChunkSize: 4096, PartDocuments: 400})
	if err != nil {
		t.Fatal(err)
	}
	parts := plan.Parts()
	if len(parts) < 4 {
		t.Fatalf("planned %d parts, want several", len(parts))
	}
	victim := parts[1]
	// AND every other part sealed by its worker
	for _, p := range parts {
		if p.Stream == victim.Stream {
			continue
		}
		if _, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: p.Stream, Source: mongoC, Store: store, KMS: k, AllowedKeys: []string{keyARN}}); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN the worker of one range is killed (SIGKILL) in the middle of its range
	paused := filepath.Join(t.TempDir(), "paused")
	spec, _ := json.Marshal(partWorkerSpec{SourceURI: ferret.URI(), S3: s3Srv.Endpoint(), KMS: kmsSrv.Endpoint(), Bucket: bucket, Key: keyARN,
		BackupID: plan.BackupID, Stream: victim.Stream, Paused: paused, PauseAt: 150})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPartWorker+"=1", envPartSpec+"="+string(spec))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the worker never reached the middle of its range")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// THEN no manifest can be written: the killed range has no result
	if _, err := Finalize(ctx, FinalizeOptions{BackupID: plan.BackupID, Store: store, KMS: k, AllowedKeys: []string{keyARN}}); !errors.Is(err, ErrPartsMissing) {
		t.Fatalf("Finalize with a killed part: %v, want ErrPartsMissing", err)
	}
	if list, _ := List(ctx, store, time.Now()); len(list) != 0 {
		t.Fatalf("an unfinished backup is listed: %+v", list)
	}
	// WHEN the engine retries the range, and retries it once more (a second complete attempt)
	for range 2 {
		if _, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: victim.Stream, Source: mongoC, Store: store, KMS: k, AllowedKeys: []string{keyARN}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Finalize(ctx, FinalizeOptions{BackupID: plan.BackupID, Store: store, KMS: k, AllowedKeys: []string{keyARN}})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the backup is complete, and finalizing again returns the same manifest
	if m.Documents != 3000 {
		t.Fatalf("backup holds %d documents, want 3000", m.Documents)
	}
	again, err := Finalize(ctx, FinalizeOptions{BackupID: plan.BackupID, Store: store, KMS: k, AllowedKeys: []string{keyARN}})
	if err != nil || again.MAC != m.MAC {
		t.Fatalf("second Finalize: %v (MAC %s, first %s)", err, again.MAC, m.MAC)
	}
	// AND it restores exactly the source
	assertRestoresTo(t, store, plan.BackupID, src)
}

func TestPartResultsAndPlanAreAuthenticated(t *testing.T) {
	ctx := context.Background()
	src := newDB("forged")
	seed(t, src, 300)
	store := newBucket(t)
	k := NewAWSKMS(kmsClient)
	plan, err := PlanBackup(ctx, PlanOptions{Source: mongoC, Database: src, Store: store, KMS: k, KeyID: keyARN, Region: testRegion, PartDocuments: 100})
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: 0, Source: mongoC, Store: store, KMS: k, AllowedKeys: []string{keyARN}})
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN a part's result whose count was changed after its worker wrote it
	res.Count--
	body, _ := json.Marshal(res)
	putObject(t, store, partResultKey(plan.BackupID, res.Stream, res.Attempt), body)
	// WHEN the backup is finalized, THEN it is refused as tampered
	if _, err := Finalize(ctx, FinalizeOptions{BackupID: plan.BackupID, Store: store, KMS: k, AllowedKeys: []string{keyARN}}); !errors.Is(err, ErrManifestMismatch) {
		t.Fatalf("Finalize with a forged result: %v", err)
	}
	// GIVEN a plan whose ranges were edited, WHEN a worker reads it, THEN it refuses
	var p Plan
	if err := json.Unmarshal(objectBytes(t, store, PlanKey(plan.BackupID)), &p); err != nil {
		t.Fatal(err)
	}
	p.Collections[0].Parts[0].Hi = json.RawMessage(`{"v":"zzz"}`)
	body, _ = json.MarshalIndent(p, "", "  ")
	putObject(t, store, PlanKey(plan.BackupID), body)
	if _, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: 0, Source: mongoC, Store: store, KMS: k, AllowedKeys: []string{keyARN}}); !errors.Is(err, ErrManifestMismatch) {
		t.Fatalf("RunPart with an edited plan: %v", err)
	}
	// AND a worker refuses a plan whose data key is not under the backup key it was given
	if _, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: 0, Source: mongoC, Store: store, KMS: k, AllowedKeys: []string{otherKey}}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("RunPart under another key: %v", err)
	}
}

func TestMixedIDTypesAreReadWhole(t *testing.T) {
	ctx := context.Background()
	// GIVEN a collection whose _id values are strings and numbers
	src := newDB("mixed")
	var docs []any
	for i := range 300 {
		var id any = fmt.Sprintf("s%04d", i)
		if i%3 == 0 {
			id = i
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: i}})
	}
	if _, err := mongoC.Database(src).Collection("mixed").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	store := newBucket(t)
	// WHEN it is backed up in parts of 50
	m, err := Create(ctx, CreateOptions{Source: mongoC, Database: src, Store: store, KMS: NewAWSKMS(kmsClient), KeyID: keyARN, Region: testRegion, PartDocuments: 50})
	if err != nil {
		t.Fatal(err)
	}
	// THEN it is one part (a range compares only its bound's type) and nothing is missing
	if len(m.Collections) != 1 || len(m.Collections[0].Parts) != 1 || m.Documents != 300 {
		t.Fatalf("manifest: %+v", m.Collections)
	}
	assertRestoresTo(t, store, m.BackupID, src)
}

// assertRestoresTo stages backup id into a fresh database and compares it with the source.
func assertRestoresTo(t *testing.T, store ObjectStore, id, src string) {
	t.Helper()
	ctx := context.Background()
	b, err := Open(ctx, ReadOptions{BackupID: id, Store: store, KMS: NewAWSKMS(kmsClient), AllowedKeys: []string{keyARN}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx, nil); err != nil {
		t.Fatalf("Check: %v", err)
	}
	dst := newDB("dst")
	if _, err := b.Stage(ctx, mongoC.Database(dst), func(c string) string { return c }, StageOptions{Recount: true}); err != nil {
		t.Fatalf("Stage: %v", err)
	}
	sameSnapshot(t, snapshot(t, dst), snapshot(t, src))
}
