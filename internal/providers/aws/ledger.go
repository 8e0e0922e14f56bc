package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/restore"
)

// ledgerWarnings is what plan and the apply preflight say when the restore step's ledger recovery
// will not run for want of its key. A warning, never a refusal: the audit ledger can be recovered by
// hand afterwards, traffic must move now.
func (s *RestoreSettings) ledgerWarnings(target string) []string {
	problem := s.LedgerKeyProblem
	if problem == "" && s.LedgerPublicKey == nil && len(s.LedgerPublicKeys) == 0 {
		problem = SettingLedgerPublicKey + " is not set"
	}
	if problem == "" {
		return nil
	}
	return []string{fmt.Sprintf("audit ledger: %s, so the restore step will NOT recover the audit ledger the restore rolls back "+
		"(the failover itself goes on): pin every region's key in regions/environment.json \"ledgerPublicKeys\" (the item `caro audit public-key` prints), "+
		"or set %s to the PEM file of the pinned ledger public key (caro audit public-key, from the on-call vault), "+
		"or, failing back to a region whose ledger the peer continued, to both regions' keys as KEYID=FILE,KEYID=FILE (KEYID the key ARN), "+
		"before applying, or run 'caro audit recover' against the %s database with the %s checkpoint buckets right after the restore",
		problem, SettingLedgerPublicKey, target, target)}
}

// LedgerRecovery is the restore step's ledger recovery (ledger.RecoverAfterRestore, which never
// fails the step and says what to run): the pinned keys, the target region's own checkpoint bucket
// and its replica of the source's, by default named after the account.
func (s *RestoreSettings) LedgerRecovery(ctx context.Context, c *Clients, plan *failover.Plan, progress failover.Progress) restore.LedgerRecovery {
	return restore.AfterRestore(s.ledgerRecoveryOptions(ctx, c, plan, progress))
}

// ledgerRecoveryOptions are LedgerRecovery's options: the settings, their defaults, and what is
// missing (Problem), with the buckets named for the command to run by hand.
func (s *RestoreSettings) ledgerRecoveryOptions(ctx context.Context, c *Clients, plan *failover.Plan, progress failover.Progress) ledger.AfterRestoreOptions {
	o := ledger.AfterRestoreOptions{Region: plan.To, OwnBucket: s.LedgerOwnBucket, ReplicaBucket: s.LedgerReplicaBucket,
		MaxAge: s.LedgerMaxAge, RetentionYears: s.LedgerRetentionYears,
		KeyHint:       "pin both in " + SettingLedgerPublicKey + " as KEYID=FILE,KEYID=FILE",
		OwnBucketHint: "set " + SettingLedgerOwnBucket + " if it has another name",
		Progress:      func(m string) { progress("%s", m) }}
	if o.MaxAge <= 0 {
		o.MaxAge = ledger.DefaultMaxAge
	}
	if o.RetentionYears <= 0 {
		o.RetentionYears = ledger.DefaultRetentionYears
	}
	o.Problem = s.ledgerConfig(ctx, c, plan.To, &o)
	if o.Problem != "" {
		// Named as the stacks name them, for the command to run.
		if o.OwnBucket == "" {
			o.OwnBucket = "caro-ledger-<account>-" + plan.To
		}
		if o.ReplicaBucket == "" {
			o.ReplicaBucket = "caro-ledger-replica-<account>-" + plan.To
		}
	}
	return o
}

// ledgerConfig fills o's keys, S3 client and default bucket names from the settings and the target
// region's clients, and says what is missing ("" when nothing is).
func (s *RestoreSettings) ledgerConfig(ctx context.Context, c *Clients, to string, o *ledger.AfterRestoreOptions) string {
	if c == nil {
		return "no AWS clients for the target region"
	}
	switch {
	case s.LedgerKeyProblem != "":
		return s.LedgerKeyProblem
	case s.LedgerPublicKey == nil && len(s.LedgerPublicKeys) == 0:
		return "set " + SettingLedgerPublicKey + " to the pinned ledger public key (caro audit public-key)"
	}
	o.PublicKey, o.PublicKeys = s.LedgerPublicKey, s.LedgerPublicKeys
	if o.OwnBucket == "" || o.ReplicaBucket == "" {
		if c.STS == nil {
			return "no STS client to name the checkpoint buckets: set " + SettingLedgerBucket + " and " + SettingLedgerOwnBucket
		}
		id, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "naming the checkpoint buckets: " + err.Error()
		}
		if o.OwnBucket == "" {
			o.OwnBucket = fmt.Sprintf("caro-ledger-%s-%s", aws.ToString(id.Account), to)
		}
		if o.ReplicaBucket == "" {
			o.ReplicaBucket = fmt.Sprintf("caro-ledger-replica-%s-%s", aws.ToString(id.Account), to)
		}
	}
	s3c, ok := c.S3.(ledger.S3API)
	if !ok {
		return "the S3 client cannot read checkpoints"
	}
	o.Client = s3c
	return ""
}
