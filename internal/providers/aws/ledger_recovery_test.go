package aws

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
)

// TestLedgerRecoveryOptionsNameWhatIsMissingAndTheBuckets: the restore step's ledger recovery gets
// the pinned keys, the ledger's defaults for what is not set, and the target's checkpoint buckets
// named after the account (STS) unless set; when something is missing it says what, and names the
// buckets as the stacks do so the command to run by hand is complete.
func TestLedgerRecoveryOptionsNameWhatIsMissingAndTheBuckets(t *testing.T) {
	ctx := context.Background()
	key, _, _ := ed25519.GenerateKey(nil)
	plan := &failover.Plan{To: "eu-central-1"}
	progress := func(string, ...any) {}
	s3c := s3.NewFromConfig(localstack.AWSConfig("eu-central-1", "http://127.0.0.1:1"))
	clients := &Clients{STS: fakeSTS(t), S3: s3c}

	// GIVEN a pinned key and nothing else
	o := (&RestoreSettings{LedgerPublicKey: key}).ledgerRecoveryOptions(ctx, clients, plan, progress)
	if o.Problem != "" || o.OwnBucket != "caro-ledger-111122223333-eu-central-1" || o.ReplicaBucket != "caro-ledger-replica-111122223333-eu-central-1" || o.Client == nil {
		t.Fatalf("with a key: problem %q, buckets %q %q, client %v", o.Problem, o.OwnBucket, o.ReplicaBucket, o.Client)
	}
	if o.MaxAge != ledger.DefaultMaxAge || o.RetentionYears != ledger.DefaultRetentionYears || o.Region != "eu-central-1" {
		t.Fatalf("defaults: max age %s, retention %d, region %s", o.MaxAge, o.RetentionYears, o.Region)
	}
	// GIVEN the settings, they are used as they are
	o = (&RestoreSettings{LedgerPublicKey: key, LedgerOwnBucket: "own", LedgerMaxAge: time.Minute, LedgerRetentionYears: 9}).ledgerRecoveryOptions(ctx, clients, plan, progress)
	if o.OwnBucket != "own" || o.ReplicaBucket != "caro-ledger-replica-111122223333-eu-central-1" || o.MaxAge != time.Minute || o.RetentionYears != 9 {
		t.Fatalf("settings: %q %q %s %d", o.OwnBucket, o.ReplicaBucket, o.MaxAge, o.RetentionYears)
	}
	o = (&RestoreSettings{LedgerPublicKey: key, LedgerReplicaBucket: "replica"}).ledgerRecoveryOptions(ctx, clients, plan, progress)
	if o.OwnBucket != "caro-ledger-111122223333-eu-central-1" || o.ReplicaBucket != "replica" {
		t.Fatalf("replica set: %q %q", o.OwnBucket, o.ReplicaBucket)
	}
	o = (&RestoreSettings{LedgerPublicKey: key, LedgerOwnBucket: "own", LedgerReplicaBucket: "replica"}).ledgerRecoveryOptions(ctx, &Clients{S3: s3c}, plan, progress)
	if o.Problem != "" || o.OwnBucket != "own" || o.ReplicaBucket != "replica" {
		t.Fatalf("both buckets set, no STS needed: %q %q %q", o.Problem, o.OwnBucket, o.ReplicaBucket)
	}

	// GIVEN something missing, THEN the problem says what, and the buckets are named for the command
	for name, c := range map[string]struct {
		s       RestoreSettings
		clients *Clients
		problem string
	}{
		"no clients":       {RestoreSettings{LedgerPublicKey: key}, nil, "no AWS clients for the target region"},
		"key problem":      {RestoreSettings{LedgerPublicKey: key, LedgerKeyProblem: "the pinned key file is not PEM"}, clients, "the pinned key file is not PEM"},
		"no key":           {RestoreSettings{}, clients, "set " + SettingLedgerPublicKey + " to the pinned ledger public key"},
		"no STS":           {RestoreSettings{LedgerPublicKeys: ledger.KeyRing{"k": key}}, &Clients{S3: s3c}, "no STS client to name the checkpoint buckets"},
		"S3 cannot verify": {RestoreSettings{LedgerPublicKey: key, LedgerOwnBucket: "own", LedgerReplicaBucket: "replica"}, &Clients{}, "the S3 client cannot read checkpoints"},
	} {
		o := c.s.ledgerRecoveryOptions(ctx, c.clients, plan, progress)
		if !strings.HasPrefix(o.Problem, c.problem) {
			t.Errorf("%s: problem %q, want %q", name, o.Problem, c.problem)
		}
		if c.s.LedgerOwnBucket == "" && (o.OwnBucket != "caro-ledger-<account>-eu-central-1" || o.ReplicaBucket != "caro-ledger-replica-<account>-eu-central-1") {
			t.Errorf("%s: buckets %q %q, want the stacks' names with <account>", name, o.OwnBucket, o.ReplicaBucket)
		}
	}
}

// TestLedgerWarningsSayWhyTheLedgerWillNotBeRecovered: plan and preflight warn (never refuse) when
// the restore step cannot recover the audit ledger, naming the reason and the setting; with a
// pinned key they say nothing.
func TestLedgerWarningsSayWhyTheLedgerWillNotBeRecovered(t *testing.T) {
	key, _, _ := ed25519.GenerateKey(nil)
	if w := (&RestoreSettings{LedgerPublicKey: key}).ledgerWarnings("eu-central-1"); w != nil {
		t.Fatalf("warnings with a key: %q", w)
	}
	if w := (&RestoreSettings{LedgerPublicKeys: ledger.KeyRing{"k": key}}).ledgerWarnings("eu-central-1"); w != nil {
		t.Fatalf("warnings with a key ring: %q", w)
	}
	w := (&RestoreSettings{}).ledgerWarnings("eu-central-1")
	if len(w) != 1 || !strings.HasPrefix(w[0], "audit ledger: "+SettingLedgerPublicKey+" is not set, so the restore step will NOT recover") || !strings.Contains(w[0], "against the eu-central-1 database") {
		t.Fatalf("warnings without a key: %q", w)
	}
	w = (&RestoreSettings{LedgerPublicKey: key, LedgerKeyProblem: "the key file is unreadable"}).ledgerWarnings("eu-central-1")
	if len(w) != 1 || !strings.HasPrefix(w[0], "audit ledger: the key file is unreadable, so") {
		t.Fatalf("warnings with a key problem: %q", w)
	}
}
