package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/localstack"
)

// backupEnv starts FerretDB, local-kms and S3 for one test and points the AWS SDK at them through
// the environment, the way an operator would point caro at other endpoints.
type backupEnv struct {
	mongoURI string
	client   *mongo.Client
	keyARN   string
	s3       *localstack.S3
}

func newBackupEnv(t *testing.T) backupEnv {
	t.Helper()
	ferret := localstack.StartFerretDBForTest(t)
	k := localstack.StartKMSForTest(t)
	s3srv := localstack.StartS3ForTest(t, "caro-backups")
	kc := kms.NewFromConfig(localstack.AWSConfig("eu-west-1", k.Endpoint()))
	key, err := kc.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY": localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_S3": s3srv.Endpoint(), "AWS_ENDPOINT_URL_KMS": k.Endpoint(),
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		// the region's backup key: backups are written and restored under it
		"CARO_BACKUP_BUCKET": "caro-backups", "CARO_REGION": "eu-west-1", "CARO_BACKUP_KEY_ID": aws.ToString(key.KeyMetadata.Arn), "CARO_PEER_BACKUP_KEY_ID": "",
	} {
		t.Setenv(name, v)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(ferret.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return backupEnv{mongoURI: ferret.URI(), client: c, keyARN: aws.ToString(key.KeyMetadata.Arn), s3: s3srv}
}

func runCaro(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBackupCommandsEndToEnd(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	// GIVEN a source database
	var docs []any
	for i := range 250 {
		docs = append(docs, bson.D{{Key: "n", Value: i}, {Key: "tenantId", Value: "t1"}})
	}
	if _, err := env.client.Database("caro").Collection("patients").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	// WHEN a backup is created
	code, out, errOut := runCaro("backup", "create", "--mongodb-uri", env.mongoURI, "--kms-key", env.keyARN, "-o", "json")
	if code != 0 {
		t.Fatalf("create exit %d: %s", code, errOut)
	}
	var m struct {
		BackupID  string `json:"backupId"`
		Documents int64  `json:"documents"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Documents != 250 {
		t.Fatalf("create output %q: %v", out, err)
	}

	// THEN list shows it with its counts (data on stdout only)
	code, out, _ = runCaro("backup", "list")
	if code != 0 || !strings.Contains(out, m.BackupID) || !strings.Contains(out, "patients=250") {
		t.Fatalf("list = %d %q", code, out)
	}
	code, out, _ = runCaro("backup", "list", "-o", "json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("list -o json = %d %q", code, out)
	}

	// AND restore into an empty database prints progress on stderr and a JSON summary on stdout
	code, out, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--kms-key", env.keyARN, "-o", "json")
	if code != 0 {
		t.Fatalf("restore exit %d: %s", code, errOut)
	}
	var rep struct {
		Documents int64 `json:"documents"`
		Verified  bool  `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Documents != 250 || !rep.Verified {
		t.Fatalf("restore output %q: %v", out, err)
	}
	if !strings.Contains(errOut, "switch") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	n, _ := env.client.Database("restored").Collection("patients").CountDocuments(ctx, bson.D{})
	if n != 250 {
		t.Fatalf("restored %d documents, want 250", n)
	}

	// AND restoring over it again needs --replace --yes
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored")
	if code == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore over data: exit %d %q", code, errOut)
	}
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--replace")
	if code == 0 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("--replace without --yes: exit %d %q", code, errOut)
	}
	if code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--replace", "--yes"); code != 0 {
		t.Fatalf("--replace --yes: exit %d %q", code, errOut)
	}

	// AND verify passes, with the wrong key it fails with exit 2 and says why
	if code, out, errOut = runCaro("backup", "verify", m.BackupID, "--mongodb-uri", env.mongoURI); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("verify = %d %q %q", code, out, errOut)
	}
	code, _, errOut = runCaro("backup", "verify", m.BackupID, "--mongodb-uri", env.mongoURI, "--kms-key", "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000")
	if code != exitVerifyFailed || !strings.Contains(errOut, "KMS") {
		t.Fatalf("verify with wrong key = %d %q", code, errOut)
	}
}

func TestBackupCommandsValidate(t *testing.T) {
	t.Setenv("CARO_BACKUP_BUCKET", "")
	t.Setenv("CARO_REGION", "eu-west-1")
	code, _, errOut := runCaro("backup", "list")
	if code == 0 || !strings.Contains(errOut, "--bucket") {
		t.Fatalf("list without bucket = %d %q", code, errOut)
	}
	code, _, errOut = runCaro("backup", "restore", "x", "--bucket", "b", "-o", "yaml", "--mongodb-uri", "mongodb://x")
	if code == 0 || !strings.Contains(errOut, "--output") {
		t.Fatalf("bad -o = %d %q", code, errOut)
	}
}
