package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/localstack"
)

// auditEnv is a ledger of n entries on real local servers (FerretDB, local-kms, gofakes3 behind the
// Object Lock shim), with the environment the caro audit commands read.
func auditEnv(t *testing.T, n int, interval uint64) (*ledgertest.Env, []string) {
	t.Helper()
	servers := ledgertest.StartServersForTest(t)
	env := servers.NewEnv(t)
	setAuditEnv(t, servers, env)
	return env, env.AppendAndCheckpoint(t, 0, n, interval)
}

// setAuditEnv sets the environment the caro audit commands read for env on servers, and a fake
// AWS for the configuration's lookups (no stack outputs, secrets or account).
func setAuditEnv(t *testing.T, servers *ledgertest.Servers, env *ledgertest.Env) {
	t.Helper()
	withCloud(t, cloudFake{})
	for name, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY": localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_S3": servers.S3Endpoint(), "AWS_ENDPOINT_URL_KMS": servers.KMS.Endpoint(),
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		"CARO_MONGODB_URI": servers.FerretDB.URI(), "CARO_DATABASE": env.DB.Name(), "CARO_LEDGER_BUCKET": env.BucketName,
		"CARO_REGION": ledgertest.Region, "CARO_LEDGER_SIGNING_KEY_ARN": env.Signer.Key, "CARO_LEDGER_RETENTION_YEARS": "", "CARO_LEDGER_REPLICA_BUCKET": "",
	} {
		t.Setenv(name, v)
	}
}

func runAudit(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(append([]string{"audit"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAuditVerify(t *testing.T) {
	// GIVEN a ledger of 20 entries, checkpointed every 5
	env, ids := auditEnv(t, 20, 5)

	// WHEN verified THEN it exits 0 and reports the counts
	code, out, errOut := runAudit("", "verify", "--tenant", "tenant-b")
	if code != 0 || !strings.Contains(out, "entries verified:     20") || !strings.Contains(out, "of tenant tenant-b:  10") || !strings.Contains(out, "OK") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND -o json gives the report
	code, out, _ = runAudit("", "verify", "-o", "json", "--since", "12")
	var rep ledger.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.FromSeq != 10 || rep.EntriesVerified != 10 {
		t.Fatalf("exit %d %s", code, out)
	}
	// AND a pinned public key file works without KMS
	pemFile := t.TempDir() + "/ledger.pem"
	writeFile(t, pemFile, env.PublicKeyPEM())
	t.Setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:1")
	if code, out, errOut := runAudit("", "verify", "--public-key", pemFile); code != 0 {
		t.Fatalf("pinned key: exit %d\n%s\n%s", code, out, errOut)
	}

	// WHEN an entry is altered in the database
	_, err := env.DB.Collection(ledger.EntriesCollection).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: ledger.EntryDocID(7)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "event.action", Value: "patient:read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// THEN verify exits 2 naming entry 7, its event and the reason
	code, out, errOut = runAudit("", "verify", "--public-key", pemFile)
	if code != exitAuditFailed || !strings.Contains(out, "first bad entry:      7") || !strings.Contains(out, ids[7]) ||
		!strings.Contains(out, "entry altered") || !strings.Contains(errOut, "does not verify") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runAudit("", "verify", "--public-key", pemFile, "-o", "json")
	if code != exitAuditFailed || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || rep.FirstBad.Seq != 7 || rep.EntriesVerified != 7 {
		t.Fatalf("json: exit %d %s", code, out)
	}

	// WHEN a stored field's type is changed (a hash stored as an integer): tampering too
	_, err = env.DB.Collection(ledger.EntriesCollection).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: ledger.EntryDocID(3)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "hash", Value: int32(3)}}}})
	if err != nil {
		t.Fatal(err)
	}
	// THEN verify exits 2 naming entry 3, not 1 ("could not run")
	code, out, errOut = runAudit("", "verify", "--public-key", pemFile)
	if code != exitAuditFailed || !strings.Contains(out, "first bad entry:      3") || !strings.Contains(out, "hash has BSON type 32-bit integer") {
		t.Fatalf("mistyped field: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestAuditVerifyIsIncrementalFromTheLastRecordAndFullOnRequest(t *testing.T) {
	// GIVEN 20 entries checkpointed every 5, verified and recorded by the writer up to checkpoint
	// 3, then 10 more
	env, _ := auditEnv(t, 20, 5)
	ctx := context.Background()
	v := env.Verifier(t)
	rep, err := v.Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatal(rep, err)
	}
	if _, err := ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	env.AppendAndCheckpoint(t, 20, 30, 5)
	// WHEN verified THEN it starts from checkpoint 3 and proves the new checkpoints consistent with it
	code, out, errOut := runAudit("", "verify")
	if code != 0 || !strings.Contains(out, "incremental:          from checkpoint 3 (tree size 20)") || !strings.Contains(out, "entries verified:     10 (from entry 20)") ||
		!strings.Contains(out, "consistency proof:    tree size 20 -> 30 holds") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND --full checks everything from entry 0
	code, out, _ = runAudit("", "verify", "--full")
	if code != 0 || !strings.Contains(out, "full pass") || !strings.Contains(out, "entries verified:     30 (from entry 0)") {
		t.Fatalf("--full: exit %d\n%s", code, out)
	}
}

func TestAuditVerifyReportsEntriesLeftUnanchored(t *testing.T) {
	// GIVEN 22 entries checkpointed every 5: 20 anchored, 2 not yet
	auditEnv(t, 22, 5)
	// WHEN verified THEN they are reported as not yet anchored, with what that means
	code, out, errOut := runAudit("", "verify")
	if code != 0 || !strings.Contains(out, "not yet anchored:     2") || !strings.Contains(out, "undetectably") ||
		!strings.Contains(out, "checkpoint records:   4 in the database") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// WHEN the writer's MaxAge and schedule have passed since their events THEN it is a finding (exit 2)
	time.Sleep(5 * time.Millisecond)
	code, out, _ = runAudit("", "verify", "--max-age", "1ms", "--checkpoint-schedule", "1ms")
	if code != exitAuditFailed || !strings.Contains(out, "first bad entry:      20") || !strings.Contains(out, "anchored by no checkpoint") {
		t.Fatalf("stale: exit %d\n%s", code, out)
	}
	if code, _, errOut = runAudit("", "verify", "--max-age", "0s"); code != 1 || !strings.Contains(errOut, "invalid --max-age") {
		t.Fatalf("invalid --max-age: exit %d %s", code, errOut)
	}
}

func TestAuditVerifyValidates(t *testing.T) {
	withCloud(t, cloudFake{})
	t.Setenv("CARO_LEDGER_BUCKET", "")
	t.Setenv("CARO_MONGODB_URI", "mongodb://127.0.0.1:1/")
	t.Setenv("CARO_REGION", "eu-west-1")
	t.Setenv("CARO_LEDGER_SIGNING_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify"}, "--bucket"},
		{[]string{"verify", "--bucket", "b", "--since", "yesterday"}, "invalid --since"},
		{[]string{"verify", "--bucket", "b", "-o", "yaml"}, "invalid --output"},
		{[]string{"verify", "--bucket", "b", "--public-key", "/nonexistent"}, "--public-key"},
	} {
		code, _, errOut := runAudit("", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// auditFailoverEnv is a ledger failed over from region A to region B (ledgertest.NewFailover:
// checkpoints 0..4 by key A in B's replica of bucket A, 5 and 6 by key B in bucket B, 36 entries),
// with the commands' environment set for region B (its own bucket and key only).
func auditFailoverEnv(t *testing.T) (*ledgertest.Servers, *ledgertest.Failover) {
	t.Helper()
	servers := ledgertest.StartServersForTest(t)
	f := servers.NewFailover(t, 12, 27, 11, 5)
	setAuditEnv(t, servers, f.B)
	return servers, f
}

func TestAuditVerifyAfterAFailoverReadsBothBucketsWithBothKeys(t *testing.T) {
	// GIVEN region B continued region A's ledger after a failover
	_, f := auditFailoverEnv(t)
	dir := t.TempDir()
	pemA, pemB := dir+"/a.pem", dir+"/b.pem"
	writeFile(t, pemA, f.A.PublicKeyPEM())
	writeFile(t, pemB, f.B.PublicKeyPEM())
	both := []string{"--bucket", f.B.BucketName, "--bucket", f.Replica.Name}

	// WHEN verified over both buckets with both regions' KMS keys THEN all 36 entries and 7 checkpoints hold
	code, out, errOut := runAudit("", append([]string{"verify", "--signing-key", f.A.Signer.Key, "--signing-key", f.B.Signer.Key}, both...)...)
	if code != 0 || !strings.Contains(out, "entries verified:     36") || !strings.Contains(out, "checkpoints verified: 7") ||
		!strings.Contains(errOut, "s3://"+f.B.BucketName+", s3://"+f.Replica.Name) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND with both keys pinned as KEYID=FILE
	pinned := append([]string{"verify", "--public-key", f.A.Signer.Key + "=" + pemA, "--public-key", f.B.Signer.Key + "=" + pemB}, both...)
	if code, out, errOut := runAudit("", pinned...); code != 0 {
		t.Fatalf("pinned: exit %d\n%s\n%s", code, out, errOut)
	}
	// AND CARO_LEDGER_REPLICA_BUCKET adds the replica to the default buckets
	t.Setenv("CARO_LEDGER_REPLICA_BUCKET", f.Replica.Name)
	if code, out, errOut := runAudit("", "verify", "--public-key", f.A.Signer.Key+"="+pemA, "--public-key", f.B.Signer.Key+"="+pemB); code != 0 {
		t.Fatalf("replica from the environment: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("CARO_LEDGER_REPLICA_BUCKET", "")

	// WHEN only the region's own bucket is read THEN it fails: checkpoint 0 is missing
	if code, out, _ := runAudit("", "verify", "--public-key", f.A.Signer.Key+"="+pemA, "--public-key", f.B.Signer.Key+"="+pemB); code != exitAuditFailed ||
		!strings.Contains(out, "missing") {
		t.Fatalf("own bucket only: exit %d\n%s", code, out)
	}
	// WHEN only key B is pinned THEN checkpoint 0, signed by key A, is refused
	code, out, _ = runAudit("", append([]string{"verify", "--public-key", f.B.Signer.Key + "=" + pemB}, both...)...)
	if code != exitAuditFailed || !strings.Contains(out, "checkpoint:           0") || !strings.Contains(out, "not one of the pinned keys") {
		t.Fatalf("key B only: exit %d\n%s", code, out)
	}

	// AND an event appended in region B is proven against checkpoint 6 with key B, checkable with both keys pinned
	proofFile := dir + "/proof.json"
	code, out, errOut = runAudit("", append([]string{"prove", f.IDs[30], "--public-key", f.A.Signer.Key + "=" + pemA, "--public-key", f.B.Signer.Key + "=" + pemB}, both...)...)
	if code != 0 || !strings.Contains(errOut, "checkpoint 6") {
		t.Fatalf("prove: exit %d\n%s\n%s", code, out, errOut)
	}
	writeFile(t, proofFile, []byte(out))
	if code, out, errOut := runAudit("", "check-proof", proofFile, "--public-key", f.A.Signer.Key+"="+pemA, "--public-key", f.B.Signer.Key+"="+pemB); code != 0 || !strings.Contains(out, "proof OK") {
		t.Fatalf("check-proof: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runAudit("", "check-proof", proofFile, "--public-key", f.A.Signer.Key+"="+pemA); code != exitAuditFailed {
		t.Fatalf("check-proof with key A only: exit %d\n%s", code, out)
	}
}

func TestAuditPublicKeyFlagsValidate(t *testing.T) {
	withCloud(t, cloudFake{})
	t.Setenv("CARO_MONGODB_URI", "mongodb://127.0.0.1:1/")
	t.Setenv("CARO_REGION", "eu-west-1")
	t.Setenv("CARO_LEDGER_BUCKET", "b")
	dir := t.TempDir()
	pem := dir + "/k.pem"
	writeFile(t, pem, ledgertestPEM(t))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--public-key", pem, "--public-key", pem}, "KEYID=FILE"},
		{[]string{"verify", "--public-key", pem, "--public-key", "arn:k=" + pem}, "KEYID=FILE"},
		{[]string{"verify", "--public-key", "=" + pem}, "KEYID=FILE"},
		{[]string{"verify", "--public-key", "arn:k=" + pem, "--public-key", "arn:k=" + pem}, "given twice"},
		{[]string{"verify", "--public-key", "arn:k=/nonexistent"}, "--public-key"},
	} {
		code, _, errOut := runAudit("", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// ledgertestPEM is a PEM public key of a throwaway ECDSA P-256 key.
func ledgertestPEM(t *testing.T) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ledgertest.PublicKeyDER(t)})
}
