package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

const (
	// envFailoverBackupOwnBucket names the target region's own backup bucket, whose erasures/ its
	// API recorded; by default the platform stack's OwnBackupBucket output. Its name is generated
	// by CloudFormation (the bucket predates a naming convention and renaming would replace it),
	// so it cannot be derived like the replica buckets.
	envFailoverBackupOwnBucket = "CARO_FAILOVER_BACKUP_OWN_BUCKET"
	// outputOwnBackupBucket is the platform stack output with the region's own backup bucket.
	outputOwnBackupBucket = "OwnBackupBucket"
)

// failoverErasureStores are the buckets whose erasure registers the failover's restore step reads
// as one: the target's replica of the source's backup bucket (the backups' bucket, BackupBucket)
// and the target's own backup bucket. Both are needed: erasures the source's API recorded are in
// the replica (unless they had not replicated before an outage; then they are in the source's own
// bucket, read on the failback as the target's own), those the target's API recorded while it
// served are only in its own. Without the own bucket's name the step refuses (nothing started).
func failoverErasureStores(c *awsprov.Clients, outs map[string]string, plan *failover.Plan) ([]backup.ObjectStore, []string, error) {
	s3c, ok := c.S3.(*s3.Client)
	if !ok {
		return nil, nil, errors.New("erasure register needs an S3 client")
	}
	replica := outs[awsprov.OutputBackupBucket]
	own := os.Getenv(envFailoverBackupOwnBucket)
	if own == "" {
		own = outs[outputOwnBackupBucket]
	}
	if own == "" {
		return nil, nil, fmt.Errorf("the erasure register of %s is in two buckets, but its own backup bucket is not known (the CaroPlatform-%s stack has no %s output yet): set %s to that bucket's name (the stack's Backups bucket, S3 console of %s), then resume; nothing was started",
			plan.To, plan.To, outputOwnBackupBucket, envFailoverBackupOwnBucket, plan.To)
	}
	names := []string{"s3://" + replica}
	stores := []backup.ObjectStore{backup.NewS3Store(s3c, replica, "")}
	if own != replica {
		names = append(names, "s3://"+own)
		stores = append(stores, backup.NewS3Store(s3c, own, ""))
	}
	return stores, names, nil
}

// failoverErasureRegister is failoverErasureStores read as one register.
func failoverErasureRegister(c *awsprov.Clients, outs map[string]string, plan *failover.Plan) (erasure.Source, []string, error) {
	stores, names, err := failoverErasureStores(c, outs, plan)
	if err != nil {
		return nil, nil, err
	}
	return erasure.BucketsRegister(names, stores...), names, nil
}
