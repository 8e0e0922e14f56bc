package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/failover"
)

// TestS3JournalRecordInAnotherSpellingIsDamage: an S3 journal's record is read only in the form
// Append writes it (failover.DecodeRecord); one with a field in another letter case or given twice
// is a damaged record, named with the command that sets it aside, and the others still count.
func TestS3JournalRecordInAnotherSpellingIsDamage(t *testing.T) {
	c := newS3(t)
	ctx := context.Background()
	j := &S3Journal{Client: c, Bucket: "caro-failover-eu-central-1", PlanID: "p1"}
	if err := j.Append(ctx, failover.Record{Event: failover.StepCompleted, Step: "restore"}); err != nil {
		t.Fatal(err)
	}
	key := "failover/p1/journal/00000001.json"
	body := `{"time":"2026-11-23T03:00:00Z","plan_id":"p1","plan_hash":"","event":"step-completed","step":"restore","STEP":"dns"}`
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(j.Bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	recs, err := j.Records(ctx)
	var damaged *failover.DamagedError
	if !errors.As(err, &damaged) || len(damaged.Objects) != 1 || damaged.Objects[0] != key || len(recs) != 1 || recs[0].Step != "restore" {
		t.Fatalf("records %+v, err %v; want %s damaged", recs, err, key)
	}
	if !strings.Contains(err.Error(), "aws s3 mv s3://caro-failover-eu-central-1/"+key) {
		t.Fatalf("the damage does not say how to set it aside: %v", err)
	}
}
