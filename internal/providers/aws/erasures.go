package aws

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
)

// erasureRegister is the erasure register the restore step reads, as one: the target's replica of
// the source's backup bucket (BackupBucket) and the target's own backup bucket. Both are needed:
// erasures the source's API recorded are in the replica (unless they had not replicated before an
// outage; then they are in the source's own bucket, read on the failback as the target's own),
// those the target's API recorded while it served are only in its own. Without the own bucket's
// name the step refuses (nothing started).
func (s *RestoreSettings) erasureRegister(c *Clients, outs map[string]string, plan *failover.Plan) (erasure.Source, []string, error) {
	s3c, ok := c.S3.(*s3.Client)
	if !ok {
		return nil, nil, errors.New("erasure register needs an S3 client")
	}
	replica := outs[OutputBackupBucket]
	own := s.OwnBackupBucket
	if own == "" {
		own = outs[OutputOwnBackupBucket]
	}
	if own == "" {
		return nil, nil, fmt.Errorf("the erasure register of %s is in two buckets, but its own backup bucket is not known (the CaroPlatform-%s stack has no %s output yet): set %s to that bucket's name (the stack's Backups bucket, S3 console of %s), then resume; nothing was started",
			plan.To, plan.To, OutputOwnBackupBucket, SettingOwnBackupBucket, plan.To)
	}
	names := []string{"s3://" + replica}
	stores := []backup.ObjectStore{backup.NewS3Store(s3c, replica, "")}
	if own != replica {
		names = append(names, "s3://"+own)
		stores = append(stores, backup.NewS3Store(s3c, own, ""))
	}
	return erasure.BucketsRegister(names, stores...), names, nil
}
