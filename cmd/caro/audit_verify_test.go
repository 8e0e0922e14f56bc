package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
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
	for name, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY": localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_S3": servers.S3Endpoint(), "AWS_ENDPOINT_URL_KMS": servers.KMS.Endpoint(),
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		"CARO_MONGODB_URI": servers.FerretDB.URI(), "CARO_DATABASE": env.DB.Name(), "CARO_LEDGER_BUCKET": env.BucketName,
		"CARO_REGION": ledgertest.Region, "CARO_LEDGER_SIGNING_KEY_ARN": env.Signer.Key, "CARO_LEDGER_RETENTION_YEARS": "",
	} {
		t.Setenv(name, v)
	}
	ctx := context.Background()
	l := &ledger.Ledger{Store: env.Store}
	cpr := env.Checkpointer(interval)
	var ids []string
	for i := 0; i < n; i++ {
		tenant := "tenant-a"
		if i%2 == 0 {
			tenant = "tenant-b"
		}
		ev := audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: "sub-1", TenantID: tenant, Action: "patient:write",
			ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", i), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", i),
			AfterHash: fmt.Sprintf("%064x", i+1)}
		if _, _, err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return env, ids
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
}

func TestAuditVerifyValidates(t *testing.T) {
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
