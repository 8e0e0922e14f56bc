package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

// InputWarnings implements awsprov.RestoreAdvisories: the snapshot restore step recovers the
// audit ledger only with the pinned ledger public key.
func (a *atlasSnapshots) InputWarnings(target string) []string { return ledgerRecoveryWarnings(target) }

// InputWarnings implements awsprov.RestoreAdvisories: the backup restore step recovers the audit
// ledger only with the pinned ledger public key.
func (backupRestorer) InputWarnings(target string) []string { return ledgerRecoveryWarnings(target) }

// ledgerRecoveryWarnings is what plan and the apply preflight say when the restore step's ledger
// recovery (recoverLedgerAfterRestore) will not run for want of its key. A warning, never a
// refusal: the audit ledger can be recovered by hand afterwards, traffic must move now.
func ledgerRecoveryWarnings(target string) []string {
	problem := ledgerPublicKeyProblem(os.Getenv(envLedgerPublicKey))
	if problem == "" {
		return nil
	}
	return []string{fmt.Sprintf("audit ledger: %s, so the restore step will NOT recover the audit ledger the restore rolls back "+
		"(the failover itself goes on): set %s to the PEM file of the pinned ledger public key (caro audit public-key, from the on-call vault), "+
		"or, failing back to a region whose ledger the peer continued, to both regions' keys as KEYID=FILE,KEYID=FILE (KEYID the key ARN), "+
		"before applying, or run 'caro audit recover' against the %s database with the %s checkpoint buckets right after the restore",
		problem, envLedgerPublicKey, target, target)}
}

// ledgerPublicKeyProblem says what is wrong with the value of CARO_LEDGER_PUBLIC_KEY, or "" when
// it gives key(s) the restore step can use. It is the step's own parsing (ledgerPinnedKeys), so
// plan warns about exactly what the step would refuse. Paths are named, contents never echoed.
func ledgerPublicKeyProblem(value string) string {
	if _, _, err := ledgerPinnedKeys(value); err != nil {
		return err.Error()
	}
	return ""
}

// ledgerPinnedKeys reads the value of CARO_LEDGER_PUBLIC_KEY: one PEM (or DER) file, a single key
// checking checkpoints of any key ID, as on a first failover; or comma-separated KEYID=FILE
// items, a key ring (each checkpoint checked with the key its KeyID names), for a failback whose
// history two regions' keys signed. Each item is what 'caro audit --public-key' takes, parsed by
// the same code (pinnedKeys).
func ledgerPinnedKeys(value string) (single []byte, ring map[string][]byte, err error) {
	var items []string
	for _, it := range strings.Split(value, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, nil, errors.New(envLedgerPublicKey + " is not set")
	}
	return pinnedKeys(envLedgerPublicKey, items)
}

// Environment of the ledger recovery in the failover's restore step.
const (
	// envLedgerPublicKey pins the ledger's public key(s), because the signing keys live in regions
	// that may be down: a PEM file (caro audit public-key), or KEYID=FILE items separated by commas
	// (a key ring, for a failback: both regions' keys), as 'caro audit --public-key' takes them.
	envLedgerPublicKey = "CARO_LEDGER_PUBLIC_KEY"
	// envFailoverLedgerBucket overrides the target region's replica of the source's checkpoint
	// bucket (default caro-ledger-replica-<account>-<target>, the CaroReplica stack's name).
	envFailoverLedgerBucket = "CARO_FAILOVER_LEDGER_BUCKET"
	// envFailoverLedgerOwnBucket overrides the target region's own checkpoint bucket (default
	// caro-ledger-<account>-<target>, the name the CaroPlatform stack gives it).
	envFailoverLedgerOwnBucket = "CARO_FAILOVER_LEDGER_OWN_BUCKET"
)

// recoverLedgerAfterRestore is the AWS failover restore step's ledger recovery: it reads its
// configuration (the pinned keys from CARO_LEDGER_PUBLIC_KEY, the target region's own checkpoint
// bucket and its replica of the source's, by default named after the account) and runs
// ledger.RecoverAfterRestore, which never fails the step and says what to run. It returns the
// step's detail line.
func recoverLedgerAfterRestore(ctx context.Context, c *awsprov.Clients, db *mongo.Database, plan *failover.Plan, progress failover.Progress) string {
	o := ledger.AfterRestoreOptions{Region: plan.To, OwnBucket: os.Getenv(envFailoverLedgerOwnBucket), ReplicaBucket: os.Getenv(envFailoverLedgerBucket),
		MaxAge: ledger.DefaultMaxAge, RetentionYears: auditEnvInt("CARO_LEDGER_RETENTION_YEARS", ledger.DefaultRetentionYears),
		KeyHint:       "pin both in " + envLedgerPublicKey + " as KEYID=FILE,KEYID=FILE",
		OwnBucketHint: "set " + envFailoverLedgerOwnBucket + " if it has another name",
		Progress:      func(s string) { progress("%s", s) }}
	if d, err := time.ParseDuration(os.Getenv("CARO_LEDGER_CHECKPOINT_MAX_AGE")); err == nil && d > 0 {
		o.MaxAge = d
	}
	o.Problem = ledgerRecoveryConfig(ctx, c, plan.To, &o)
	if o.Problem != "" {
		// Named as the stacks name them, for the command to run.
		if o.OwnBucket == "" {
			o.OwnBucket = "caro-ledger-<account>-" + plan.To
		}
		if o.ReplicaBucket == "" {
			o.ReplicaBucket = "caro-ledger-replica-<account>-" + plan.To
		}
	}
	if db != nil {
		o.Store = ledger.NewMongoStore(db)
	}
	summary, _ := ledger.RecoverAfterRestore(ctx, o)
	return summary
}

// ledgerRecoveryConfig fills o's keys, S3 client and default bucket names from the environment and
// the target region's clients, and says what is missing ("" when nothing is).
func ledgerRecoveryConfig(ctx context.Context, c *awsprov.Clients, to string, o *ledger.AfterRestoreOptions) string {
	if c == nil {
		return "no AWS clients for the target region"
	}
	if os.Getenv(envLedgerPublicKey) == "" {
		return "set " + envLedgerPublicKey + " to the pinned ledger public key (caro audit public-key)"
	}
	single, ring, err := ledgerPinnedKeys(os.Getenv(envLedgerPublicKey))
	if err != nil {
		return err.Error()
	}
	if ring != nil {
		o.PublicKeys, err = ledger.NewKeyRing(ring)
	} else {
		o.PublicKey, err = ledger.ParsePublicKey(single)
	}
	if err != nil {
		return err.Error()
	}
	if o.OwnBucket == "" || o.ReplicaBucket == "" {
		if c.STS == nil {
			return "no STS client to name the checkpoint buckets: set " + envFailoverLedgerBucket + " and " + envFailoverLedgerOwnBucket
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
