package replication

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// Holds is what a locked bucket keeps; it decides the bucket's lifecycle, the same in the source
// and in its replica (S3 does not replicate expirations, so each bucket expires its own copies).
type Holds string

const (
	// HoldsBackups: encrypted logical backups, identity exports and the erasure register: patient
	// data, kept exactly the retention period.
	HoldsBackups Holds = "backups"
	// HoldsAuditCheckpoints: the audit ledger's signed checkpoints.
	HoldsAuditCheckpoints Holds = "audit-checkpoints"
)

// HoldsTagKey tags every locked bucket with what it holds, so the app's tests find every bucket of
// a kind and check its expiry.
const HoldsTagKey = "caro:holds"

// ExpiryDays is when a locked bucket of kind h expires an object, in days after it was written:
//   - backups: the day after the object's Object Lock (RetentionDays(years)) ends. Patient data
//     is kept exactly the retention period, not longer.
//   - audit checkpoints: one year later than that. The ledger is to be sealed into yearly segments
//     (issue 18): the checkpoints of a year's segment are written over that year, and each is
//     locked RetentionDays(years) from its own write, so the last lock of a segment ends up to a
//     year after its first. Keeping every checkpoint a year past its own lock means no checkpoint
//     of a segment expires before every lock of that segment has ended: a segment stays whole and
//     verifiable while any of it is locked, and is gone within the year after.
func ExpiryDays(h Holds, years int) int {
	switch h {
	case HoldsBackups:
		return RetentionDays(years) + 1
	case HoldsAuditCheckpoints:
		return RetentionDays(years+1) + 1
	}
	panic(fmt.Sprintf("replication.ExpiryDays: unknown kind %q: use HoldsBackups or HoldsAuditCheckpoints", h))
}

// Lifecycle is the lifecycle of a locked bucket of kind h, for the source and its replica alike:
// objects expire ExpiryDays after they were written (a delete marker: the version becomes
// noncurrent), and a noncurrent version is removed a day later. A version still locked cannot be
// removed (Object Lock wins over lifecycle), so nothing goes before its lock ends; expired delete
// markers are removed too. Backups move to Glacier Instant Retrieval after 90 days (restores stay
// immediate).
func Lifecycle(h Holds, years int) *[]*awss3.LifecycleRule {
	days := func(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(float64(n))) }
	expire := &awss3.LifecycleRule{
		Id:                                  jsii.String("retention"),
		Expiration:                          days(ExpiryDays(h, years)),
		NoncurrentVersionExpiration:         days(1),
		AbortIncompleteMultipartUploadAfter: days(7),
	}
	if h == HoldsBackups {
		expire.Transitions = &[]*awss3.Transition{{
			StorageClass:    awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(),
			TransitionAfter: days(90),
		}}
	}
	return &[]*awss3.LifecycleRule{expire, {
		Id:                        jsii.String("remove-expired-delete-markers"),
		ExpiredObjectDeleteMarker: jsii.Bool(true),
	}}
}
