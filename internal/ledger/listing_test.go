package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/ledger"
)

func TestListingPagesThroughMoreThanOneThousandCheckpoints(t *testing.T) {
	// GIVEN a bucket with 1,205 checkpoint objects (more than one listing page of 1,000)
	ctx := context.Background()
	env := servers.NewEnv(t)
	const n = 1205
	for i := uint64(0); i < n; i++ {
		if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.BucketName), Key: aws.String(ledger.CheckpointKey(i)),
			Body: bytes.NewReader([]byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN listed, from the start and from a number THEN each key is listed once, in order, and
	// the listing ends (a server that starts a page at its marker must not make it repeat forever)
	for _, from := range []uint64{0, 1, 999, 1000, 1204} {
		var list []ledger.StoredCheckpoint
		var err error
		if from == 0 {
			list, err = env.Bucket.ListCheckpoints(ctx)
		} else {
			list, err = env.Bucket.ListCheckpointsFrom(ctx, from)
		}
		if err != nil || uint64(len(list)) != n-from {
			t.Fatalf("from %d: %d listed, want %d: %v", from, len(list), n-from, err)
		}
		for i, sc := range list {
			if sc.Key != ledger.CheckpointKey(from+uint64(i)) || sc.Err != nil && bytes.Contains([]byte(sc.Err.Error()), []byte("versions")) {
				t.Fatalf("from %d: item %d is %s (%v)", from, i, sc.Key, sc.Err)
			}
		}
	}
}
