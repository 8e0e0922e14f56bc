package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/carohealth/platform/internal/failover"
)

// checkpointBuckets lists checkpoints/ of each bucket as objects last modified at the given times;
// an unknown bucket does not answer.
type checkpointBuckets struct {
	S3API
	objects map[string][]time.Time
}

func (b checkpointBuckets) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	times, ok := b.objects[aws.ToString(in.Bucket)]
	if !ok || aws.ToString(in.Prefix) != "checkpoints/" {
		return nil, errors.New("NoSuchBucket")
	}
	out := &s3.ListObjectsV2Output{}
	for _, t := range times {
		out.Contents = append(out.Contents, s3types.Object{LastModified: aws.Time(t)})
	}
	return out, nil
}

// TestTheLedgerReplicaIsComparedWithTheSourcesCheckpoints: readiness reads the newest checkpoint in
// the target's replica bucket (the configured one, else the stacks' name) and the source's: more
// than 15 minutes behind is a warning (S3 replication's promise), less passes; the lag is measured;
// an empty or unreadable replica, or a source that does not answer, is said as such.
func TestTheLedgerReplicaIsComparedWithTheSourcesCheckpoints(t *testing.T) {
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	id := &sts.GetCallerIdentityOutput{Account: aws.String("111122223333")}
	req := failover.Request{From: "eu-west-1", To: "eu-central-1"}
	const replica, source = "caro-ledger-replica-111122223333-eu-central-1", "caro-ledger-111122223333-eu-west-1"
	survey := func(objects map[string][]time.Time, replicaSetting string) failover.Check {
		buckets := checkpointBuckets{objects: objects}
		p := &Provider{Now: func() time.Time { return now }, LedgerReplicaBucket: replicaSetting,
			ClientsFor: func(context.Context, string) (*Clients, error) { return &Clients{S3: buckets}, nil }}
		s := &failover.Survey{}
		p.surveyLedgerReplica(context.Background(), &Clients{S3: buckets}, req, id, s)
		if len(s.Readiness) != 1 {
			t.Fatalf("checks %+v", s.Readiness)
		}
		return s.Readiness[0]
	}
	at := func(ago time.Duration) []time.Time { return []time.Time{now.Add(-time.Hour), now.Add(-ago)} }

	c := survey(map[string][]time.Time{replica: at(20 * time.Minute), source: at(0)}, "")
	if c.Status != failover.CheckWarning || !strings.Contains(c.Detail, "is 20m0s behind eu-west-1's checkpoints") || c.Value == nil || *c.Value != 1200 {
		t.Errorf("20 minutes behind: %+v", c)
	}
	c = survey(map[string][]time.Time{replica: at(15 * time.Minute), source: at(0)}, "")
	if c.Status != failover.CheckOK || !strings.Contains(c.Detail, "is 15m0s behind") {
		t.Errorf("15 minutes behind: %+v", c)
	}
	c = survey(map[string][]time.Time{"my-replica": at(time.Minute), source: at(0)}, "my-replica")
	if c.Status != failover.CheckOK || !strings.Contains(c.Detail, "is 1m0s behind") {
		t.Errorf("the configured replica bucket: %+v", c)
	}
	c = survey(map[string][]time.Time{replica: {}, source: at(0)}, "")
	if c.Status != failover.CheckWarning || c.Detail != "s3://"+replica+" holds no ledger checkpoint yet" {
		t.Errorf("empty replica: %+v", c)
	}
	c = survey(map[string][]time.Time{source: at(0)}, "")
	if c.Status != failover.CheckWarning || !strings.Contains(c.Detail, "the ledger checkpoints in s3://"+replica+" cannot be listed") {
		t.Errorf("unreadable replica: %+v", c)
	}
	c = survey(map[string][]time.Time{replica: at(5 * time.Minute)}, "")
	if c.Status != failover.CheckOK || !strings.HasPrefix(c.Detail, "the newest checkpoint replicated to eu-central-1 is 5m0s old (the source's bucket does not answer") {
		t.Errorf("source down: %+v", c)
	}
}
