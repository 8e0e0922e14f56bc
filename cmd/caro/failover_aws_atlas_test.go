package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
	"github.com/carohealth/platform/regions"
)

// TestFailoverAtlasRestoreReappliesErasures: the failover's Atlas restore step re-applies the
// erasure register to the restored cluster, and refuses to start without a target URI.
func TestFailoverAtlasRestoreReappliesErasures(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	defs, err := regions.Load("../../regions")
	if err != nil {
		t.Fatal(err)
	}
	srv := atlasFake(t, "caro-eu-central-1")
	creds, err := atlas.CredentialsFromSecret([]byte(`{"clientId":"sa-1","clientSecret":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	client, err := atlas.NewClient(ctx, creds, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := atlas.NewRestorer(client)
	r.Sleep = func(context.Context, time.Duration) error { return nil }
	a := &atlasSnapshots{defs: defs, r: r}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-central-1")) // endpoints from newBackupEnv's environment
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	clients := &awsprov.Clients{S3: s3c}
	outs := map[string]string{awsprov.OutputBackupBucket: "caro-backups"}
	store, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	// Ada's erasure in the backups' bucket (the replica of the source's), Grace's only in the
	// target's own backup bucket (its API erased her while it served, before a failback).
	tenant, _, grace := rolledBack(t, db, erasure.NewRegister(store))
	ownName := "caroplatform-eu-central-1-backupsbucket1a2b3c4d-xyz"
	if err := peerBucket(t, ownName).Record(ctx, erasure.Erasure{TenantID: tenant, PatientID: grace, ErasedAt: time.Now(), RequestID: "own"}); err != nil {
		t.Fatal(err)
	}
	plan := &failover.Plan{ID: "p1", From: "eu-west-1", To: "eu-central-1", Backup: failover.BackupRef{ID: "snap1"}}
	var lines []string
	progress := func(f string, args ...any) { lines = append(lines, f) }

	t.Setenv("CARO_FAILOVER_MONGODB_URI", "")
	if _, err := a.Restore(ctx, clients, outs, plan, progress); err == nil || !strings.Contains(err.Error(), "CARO_FAILOVER_MONGODB_URI") {
		t.Fatalf("without URI: %v", err)
	}
	t.Setenv("CARO_FAILOVER_MONGODB_URI", env.mongoURI)
	// WHEN the target's own backup bucket is not known THEN the step refuses before any restore
	t.Setenv(envFailoverBackupOwnBucket, "")
	if _, err := a.Restore(ctx, clients, outs, plan, progress); err == nil || !strings.Contains(err.Error(), envFailoverBackupOwnBucket) {
		t.Fatalf("without the own bucket: %v", err)
	}
	// WHEN one of the two buckets cannot be read THEN it refuses too, naming it
	t.Setenv(envFailoverBackupOwnBucket, "no-such-bucket")
	if _, err := a.Restore(ctx, clients, outs, plan, progress); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket") {
		t.Fatalf("unreadable own bucket: %v", err)
	}
	t.Setenv(envFailoverBackupOwnBucket, "")
	outs[outputOwnBackupBucket] = ownName
	msg, err := a.Restore(ctx, clients, outs, plan, progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "2 registered erasures re-applied (2 patients erased again)") {
		t.Fatalf("step message %q", msg)
	}
	if d := documentsJSON(t, db); strings.Contains(d, `"Lovelace"`) || strings.Contains(d, `"Hopper"`) {
		t.Fatal("personal data left after the failover's Atlas restore: " + d)
	}
}
