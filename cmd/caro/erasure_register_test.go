package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/erasure"
)

// peerBucket creates, in newBackupEnv's S3, a second bucket holding an erasure register (the
// region's replica of the peer's backup bucket, or its own backup bucket) and returns its register.
func peerBucket(t *testing.T, name string) *erasure.Register {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1")) // endpoints from newBackupEnv's environment
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	store, _, err := backupClients(ctx, &backupFlags{bucket: name, region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	return erasure.NewRegister(store)
}

// TestGDPRReapplyReadsEveryBucket: --bucket repeated (or CARO_BACKUP_REPLICA_BUCKET) reads the own
// bucket's and the replica's registers as one; one unreadable bucket changes nothing.
func TestGDPRReapplyReadsEveryBucket(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	own, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	// GIVEN Ada's erasure only in the own bucket, Grace's only in the replica of the peer's
	tenant, _, grace := rolledBack(t, db, erasure.NewRegister(own))
	replica := peerBucket(t, "caro-backup-replica-123456789012-eu-west-1")
	if err := replica.Record(ctx, erasure.Erasure{TenantID: tenant, PatientID: grace, ErasedAt: time.Now(), RequestID: "peer"}); err != nil {
		t.Fatal(err)
	}
	before := documentsJSON(t, db)
	// WHEN a second bucket cannot be read THEN nothing changes and the error names it
	code, _, errOut := runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--bucket", "caro-backups", "--bucket", "no-such-bucket", "--yes")
	if code == 0 || !strings.Contains(errOut, "s3://no-such-bucket") || documentsJSON(t, db) != before {
		t.Fatalf("unreadable second bucket: exit %d %q", code, errOut)
	}
	// WHEN only the own bucket is read THEN it warns that the peer's erasures are not read
	if code, _, errOut = runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--yes"); code != 0 ||
		!strings.Contains(errOut, "WARNING: the erasure register is read from s3://caro-backups only") {
		t.Fatalf("one bucket: exit %d %q", code, errOut)
	}
	// WHEN both are read (the replica from CARO_BACKUP_REPLICA_BUCKET)
	t.Setenv(envBackupReplicaBucket, "caro-backup-replica-123456789012-eu-west-1")
	code, out, errOut := runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// THEN both patients are erased again
	var rep struct {
		Registered int `json:"registered"`
		Patients   int `json:"patientsErased"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Registered != 2 || rep.Patients != 2 || strings.Contains(errOut, "WARNING") {
		t.Fatalf("stdout %q stderr %q: %v", out, errOut, err)
	}
	after := documentsJSON(t, db)
	for _, pd := range []string{"Lovelace", "Hopper", "Ada's note", "Grace's note"} {
		if strings.Contains(after, `"`+pd+`"`) {
			t.Fatalf("%q left: %s", pd, after)
		}
	}
}

// TestBackupRestoreReadsTheErasureBucket: caro backup restore of an own backup from before a
// failover applies the erasures the peer made meanwhile (in --erasure-bucket, the replica).
func TestBackupRestoreReadsTheErasureBucket(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	own, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	// GIVEN a backup of Ada and Grace; Ada's erasure in the own bucket, Grace's (made by the
	// peer while it served) only in the replica of the peer's bucket
	tenant, _, grace := rolledBack(t, db, erasure.NewRegister(own))
	code, out, errOut := runCaro("backup", "create", "--mongodb-uri", env.mongoURI, "--kms-key", env.keyARN, "-o", "json")
	var m struct {
		BackupID string `json:"backupId"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil {
		t.Fatalf("create exit %d: %s", code, errOut)
	}
	replica := peerBucket(t, "caro-backup-replica-123456789012-eu-west-1")
	if err := replica.Record(ctx, erasure.Erasure{TenantID: tenant, PatientID: grace, ErasedAt: time.Now(), RequestID: "peer"}); err != nil {
		t.Fatal(err)
	}
	// WHEN the second register bucket cannot be read THEN the restore refuses, nothing restored
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--kms-key", env.keyARN,
		"--erasure-bucket", "no-such-bucket")
	if code == 0 || !strings.Contains(errOut, "s3://no-such-bucket") {
		t.Fatalf("unreadable --erasure-bucket: exit %d %q", code, errOut)
	}
	if names, _ := env.client.Database("restored").ListCollectionNames(ctx, bson.D{}); len(names) != 0 {
		t.Fatalf("refused restore left collections %v", names)
	}
	// WHEN restored with --erasure-bucket
	code, _, errOut = runCaro("backup", "restore", m.BackupID, "--mongodb-uri", env.mongoURI, "--database", "restored", "--kms-key", env.keyARN,
		"--erasure-bucket", "caro-backup-replica-123456789012-eu-west-1")
	if code != 0 {
		t.Fatalf("restore exit %d: %s", code, errOut)
	}
	// THEN both erasures are applied, and no single-bucket warning is printed
	got := documentsJSON(t, env.client.Database("restored"))
	for _, pd := range []string{"Lovelace", "Hopper", "Ada's note", "Grace's note"} {
		if strings.Contains(got, `"`+pd+`"`) {
			t.Fatalf("%q back after the restore: %s", pd, got)
		}
	}
	if !strings.Contains(errOut, "2 registered erasures re-applied") || strings.Contains(errOut, "WARNING: the erasure register") {
		t.Fatalf("stderr %q", errOut)
	}
}
