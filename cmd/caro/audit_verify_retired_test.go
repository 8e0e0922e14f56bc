package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/localstack"
)

func TestAuditVerifyAcceptsRetiredSegmentsAndRefusesADeletedMiddleOne(t *testing.T) {
	ctx := context.Background()
	servers := ledgertest.StartServersForTest(t)
	env := servers.NewEnv(t)
	setAuditEnv(t, servers, env)
	// GIVEN a ledger written in three years: two more than nine years ago (their retention has
	// ended) and one two years ago, each segment sealed the year after
	y := time.Now().UTC().Year()
	days := []time.Time{
		time.Date(y-12, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(y-11, 3, 1, 10, 0, 0, 0, time.UTC),
		time.Date(y-2, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(y-1, 3, 1, 10, 0, 0, 0, time.UTC),
	}
	if seals := env.AppendOnDays(t, days, 10, 5); len(seals) != 3 {
		t.Fatalf("%d seals, want 3 (the first three years)", len(seals))
	}
	// AND the expired segments retired (their checkpoints and entries deleted)
	pub, err := ledger.ParsePublicKey(env.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Retire(ctx, ledger.RetireOptions{Store: env.Store, Bucket: env.Bucket, PublicKey: pub})
	if err != nil || len(rep.Segments) != 2 || rep.Entries != 20 {
		t.Fatalf("retire %+v %v", rep, err)
	}
	// WHEN the ledger is verified THEN it holds, starting after the retired segments
	code, out, errOut := runAudit("", "verify", "--full")
	if code != 0 || !strings.Contains(out, "retired segments:     up to "+itoaYear(y-11)) || !strings.Contains(out, "entries verified:     20 (from entry 20)") ||
		!strings.Contains(out, "result:               OK") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// WHEN the segment of two years ago (within its retention) is deleted behind the Object Lock
	raw := s3.NewFromConfig(localstack.AWSConfig(ledgertest.Region, servers.S3.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	for n := uint64(4); n <= 5; n++ {
		out, err := raw.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(env.BucketName), Prefix: aws.String(ledger.CheckpointKey(n))})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(env.BucketName), Key: v.Key, VersionId: v.VersionId}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// THEN verification fails (exit 2), naming the missing checkpoint
	code, out, _ = runAudit("", "verify", "--full")
	if code != 2 || !strings.Contains(out, "FAILED") || !strings.Contains(out, "checkpoint 4") {
		t.Fatalf("a deleted middle segment: exit %d\n%s", code, out)
	}
}

func itoaYear(y int) string { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006") }
