package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

// awsRestoreSettings is the AWS provider's restore configuration as the wiring builds it from s.
func awsRestoreSettings(t *testing.T, s envSettings) *awsprov.RestoreSettings {
	t.Helper()
	var c awsprov.Config
	addOperatorInputs(&c, s.LedgerPublicKey)
	return &c.Restore
}

// envRestoreSettings are the restore settings of a failover to eu-central-1 configured from the
// environment alone (no AWS lookups).
func envRestoreSettings(t *testing.T) *awsprov.RestoreSettings {
	t.Helper()
	ctx := context.Background()
	cfg, err := (&config.Loader{}).Load(ctx, "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	c := awsprov.ConfigFrom(ctx, cfg)
	addOperatorInputs(&c, cfg.String(ctx, config.KeyLedgerPublicKeys))
	return &c.Restore
}

// recoverLedgerAfterRestore runs the AWS restore step's ledger recovery, configured from the
// environment, on db.
func recoverLedgerAfterRestore(t *testing.T, ctx context.Context, c *awsprov.Clients, db *mongo.Database, plan *failover.Plan, progress failover.Progress) string {
	t.Helper()
	msg, _ := envRestoreSettings(t).LedgerRecovery(ctx, c, plan, progress)(ctx, db)
	return msg
}

// ledgerKeyFiles writes a pinnable public key, its private key and a file that is no key.
func ledgerKeyFiles(t *testing.T) (public, private, garbage string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	public, private, garbage = filepath.Join(dir, "ledger.pem"), filepath.Join(dir, "private.pem"), filepath.Join(dir, "notes.txt")
	for path, body := range map[string][]byte{
		public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		private: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}),
		garbage: []byte("ledger key: ask the security officer\n"),
	} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return public, private, garbage
}

func TestFailoverWarnsWhenTheLedgerWillNotBeRecovered(t *testing.T) {
	public, private, garbage := ledgerKeyFiles(t)
	for _, name := range []string{"atlas", "backup"} {
		for _, c := range []struct {
			given, value, says string
		}{
			{"no " + envLedgerPublicKey, "", envLedgerPublicKey + " is not set"},
			{"a file that does not exist", filepath.Join(t.TempDir(), "missing.pem"), "missing.pem cannot be read (no such file or directory)"},
			{"a file that is no key", garbage, "notes.txt is not a PEM public key"},
			{"the private key instead of the public one", private, "private.pem is not a PEM public key"},
		} {
			t.Run("GIVEN the "+name+" restore and "+c.given+" THEN plan and preflight warn, saying what to set and what to run", func(t *testing.T) {
				w := advisories(t, name, envSettings{LedgerPublicKey: c.value}).InputWarnings("eu-central-1")
				if len(w) != 1 {
					t.Fatalf("warnings %q, want one", w)
				}
				for _, want := range []string{c.says, "will NOT recover the audit ledger", "the failover itself goes on",
					"set " + envLedgerPublicKey + " to the PEM file of the pinned ledger public key", "caro audit public-key",
					"'caro audit recover' against the eu-central-1 database"} {
					if !strings.Contains(w[0], want) {
						t.Errorf("warning %q does not say %q", w[0], want)
					}
				}
				if strings.Contains(w[0], "PRIVATE KEY") || strings.Contains(w[0], "security officer") {
					t.Errorf("warning echoes the file's content: %q", w[0])
				}
			})
		}
		t.Run("GIVEN the "+name+" restore and the pinned PEM public key THEN there is no warning", func(t *testing.T) {
			if w := advisories(t, name, envSettings{LedgerPublicKey: public}).InputWarnings("eu-central-1"); len(w) != 0 {
				t.Errorf("warnings %q with the key pinned", w)
			}
		})
	}
}

// advisories is the AWS provider's restore of the name, configured from s.
func advisories(t *testing.T, name string, s envSettings) awsprov.RestoreAdvisories {
	rs := awsRestoreSettings(t, s)
	if name == "atlas" {
		return &awsprov.Snapshots{Settings: rs}
	}
	return awsprov.Restores{Settings: rs}
}

type stsAccount string

func (a stsAccount) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String(string(a))}, nil
}

func TestFailoverRestoreStepRecoversTheLedger(t *testing.T) {
	// GIVEN a target database restored from a backup that lacks entries 7..14, anchored by
	// checkpoints the target region's replica bucket holds
	env, _ := auditEnv(t, 7, 5)
	restore := auditLedgerCopy(t, env.DB)
	auditAppend(t, env, 7, 17)
	restore()
	ctx := context.Background()
	plan := &failover.Plan{ID: "p1", From: "eu-west-1", To: "eu-central-1"}
	clients := &awsprov.Clients{S3: env.S3, STS: stsAccount("123456789012")}
	var lines []string
	progress := func(f string, args ...any) { lines = append(lines, fmt.Sprintf(f, args...)) }
	db := ledger.NewMongoStore(env.DB)
	count := func() uint64 {
		n, err := db.CountEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Setenv(awsprov.SettingLedgerOwnBucket, "")
	// WHEN the step runs without a pinned public key THEN it says loudly that the ledger was not
	// recovered and what to run, writes nothing, and does not fail the step
	t.Setenv(envLedgerPublicKey, "")
	msg := recoverLedgerAfterRestore(t, ctx, clients, env.DB, plan, progress)
	if !strings.Contains(msg, "NOT recovered") || !strings.Contains(msg, "caro audit recover") || count() != 7 || !strings.Contains(strings.Join(lines, "\n"), "WARNING") {
		t.Fatalf("%s\n%v", msg, lines)
	}
	// WHEN the key is pinned but no bucket named THEN it reads the CaroReplica bucket of the target
	pemFile := t.TempDir() + "/ledger.pem"
	writeFile(t, pemFile, env.PublicKeyPEM())
	t.Setenv(envLedgerPublicKey, pemFile)
	t.Setenv(awsprov.SettingLedgerBucket, "")
	if msg := recoverLedgerAfterRestore(t, ctx, clients, env.DB, plan, progress); !strings.Contains(msg, "s3://caro-ledger-replica-123456789012-eu-central-1") || count() != 7 {
		t.Fatalf("%s", msg)
	}
	// WHEN the replica bucket is found THEN entries and checkpoint records are recovered from it
	// (the target's own bucket, by its default name, does not exist here: skipped with a warning)
	t.Setenv(awsprov.SettingLedgerBucket, env.BucketName)
	lines = nil
	msg = recoverLedgerAfterRestore(t, ctx, clients, env.DB, plan, progress)
	if !strings.Contains(msg, "8 entries and 2 checkpoint records recovered from s3://"+env.BucketName) || !strings.Contains(msg, "anchored up to entry 14") || count() != 15 {
		t.Fatalf("%s", msg)
	}
	if all := strings.Join(lines, "\n"); !strings.Contains(all, "WARNING: audit ledger: the target's own checkpoint bucket s3://caro-ledger-123456789012-eu-central-1 cannot be read") ||
		!strings.Contains(all, "recovering from s3://"+env.BucketName+" alone") {
		t.Fatalf("own bucket warning missing:\n%s", all)
	}
	if code, out, errOut := runAudit("", "verify"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND a resumed step recovers nothing more
	if msg := recoverLedgerAfterRestore(t, ctx, clients, env.DB, plan, progress); !strings.Contains(msg, "0 entries and 0 checkpoint records") {
		t.Fatalf("%s", msg)
	}
	// WHEN restored again and the target's own bucket exists but is empty (a first failover: the
	// standby never cut a checkpoint) THEN the same single key recovers from both, read as one series
	restore()
	own := env.Servers.NewEnv(t).BucketName
	t.Setenv(awsprov.SettingLedgerOwnBucket, own)
	lines = nil
	msg = recoverLedgerAfterRestore(t, ctx, clients, env.DB, plan, progress)
	if !strings.Contains(msg, "8 entries and 2 checkpoint records recovered from s3://"+own+", s3://"+env.BucketName) || count() != 15 ||
		strings.Contains(strings.Join(lines, "\n"), "WARNING") {
		t.Fatalf("%s\n%v", msg, lines)
	}
}

func TestFailoverRestoreStepRecoversAFailbackFromBothBucketsWithBothKeys(t *testing.T) {
	// GIVEN region B continued region A's ledger after a failover (checkpoints 0..4 by key A in A's
	// own bucket, 5 and 6 by key B in B's), a backup of B's database then (entries 0..35), 9 more
	// entries in B (checkpoints 7 and 8 anchor up to entry 44), and B's bucket replicated into A
	_, f := auditFailoverEnv(t)
	backup := ledgertest.TakeSnapshot(t, f.B.DB)
	f.B.AppendAndCheckpoint(t, 38, 47, 5)
	replicaInA := f.B.Replicate(t)
	// AND the failback (B to A) restored that backup into A's database
	backup.RestoreInto(t, f.A.DB)
	ctx := context.Background()
	count := func() uint64 {
		t.Helper()
		n, err := ledger.NewMongoStore(f.A.DB).CountEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 36 {
		t.Fatalf("restored %d entries, want 36", count())
	}
	plan := &failover.Plan{ID: "p2", From: "eu-central-1", To: "eu-west-1"}
	clients := &awsprov.Clients{S3: f.A.S3, STS: stsAccount("123456789012")}
	var lines []string
	progress := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	t.Setenv(awsprov.SettingLedgerOwnBucket, f.A.BucketName)
	t.Setenv(awsprov.SettingLedgerBucket, replicaInA.Name)
	dir := t.TempDir()
	pemA, pemB := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	writeFile(t, pemA, f.A.PublicKeyPEM())
	writeFile(t, pemB, f.B.PublicKeyPEM())
	keyA, keyB := f.A.Signer.Key, f.B.Signer.Key

	// WHEN CARO_LEDGER_PUBLIC_KEY is malformed THEN plan and preflight warn, and the step says the
	// ledger was NOT recovered and what to run (both buckets), writes nothing and fails nothing
	for _, c := range []struct{ given, value, says string }{
		{"two files without key IDs", pemA + "," + pemB, "several " + envLedgerPublicKey + " values need their key IDs"},
		{"a file beside a KEYID=FILE item", pemA + "," + keyB + "=" + pemB, "several " + envLedgerPublicKey + " values need their key IDs"},
		{"an item without its key ID", "=" + pemA, "invalid " + envLedgerPublicKey + " \"=" + pemA + "\": give KEYID=FILE"},
		{"a key ID without its file", keyA + "=", "give KEYID=FILE"},
		{"one key ID twice", keyA + "=" + pemA + "," + keyA + "=" + pemB, "key " + keyA + " is given twice"},
		{"a KEYID=FILE item whose file is missing", keyA + "=" + pemA + "," + keyB + "=" + filepath.Join(dir, "missing.pem"), "missing.pem cannot be read (no such file or directory)"},
	} {
		t.Run("GIVEN "+c.given, func(t *testing.T) {
			t.Setenv(envLedgerPublicKey, c.value)
			w := advisories(t, "backup", mustLoadSettings(t)).InputWarnings(plan.To)
			if len(w) != 1 || !strings.Contains(w[0], c.says) || !strings.Contains(w[0], "will NOT recover the audit ledger") || !strings.Contains(w[0], "KEYID=FILE,KEYID=FILE") {
				t.Fatalf("plan warnings %q, want one saying %q", w, c.says)
			}
			lines = nil
			msg := recoverLedgerAfterRestore(t, ctx, clients, f.A.DB, plan, progress)
			for _, want := range []string{"audit ledger NOT recovered", c.says, "caro audit recover --mongodb-uri <uri> --bucket " + f.A.BucketName + " --bucket " + replicaInA.Name + " --region eu-west-1"} {
				if !strings.Contains(msg, want) {
					t.Errorf("step says %q, not %q", msg, want)
				}
			}
			if count() != 36 || !strings.Contains(strings.Join(lines, "\n"), "WARNING") {
				t.Errorf("entries %d, progress %v", count(), lines)
			}
		})
	}

	// WHEN only key A is pinned, as on the first failover THEN the step reads both buckets, stops at
	// checkpoint 5 (key B's), recovers nothing it cannot verify, and warns what to pin and run
	t.Setenv(envLedgerPublicKey, pemA)
	lines = nil
	msg := recoverLedgerAfterRestore(t, ctx, clients, f.A.DB, plan, progress)
	for _, want := range []string{"recovered from s3://" + f.A.BucketName + ", s3://" + replicaInA.Name, "anchored up to entry 24, checkpoint 4",
		"WARNING: audit ledger NOT fully recovered", "checkpoint 5", "caro audit recover --mongodb-uri <uri> --bucket " + f.A.BucketName + " --bucket " + replicaInA.Name,
		"--public-key <key ARN A>=<pem A> --public-key <key ARN B>=<pem B>", "KEYID=FILE,KEYID=FILE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("key A only: %q does not say %q", msg, want)
		}
	}
	if count() != 36 || !strings.Contains(strings.Join(lines, "\n"), "WARNING: audit ledger NOT fully recovered") {
		t.Fatalf("key A only: entries %d, progress %v", count(), lines)
	}

	// WHEN both keys are pinned as KEYID=FILE items THEN plan does not warn
	t.Setenv(envLedgerPublicKey, keyA+"="+pemA+", "+keyB+"="+pemB)
	if w := advisories(t, "backup", mustLoadSettings(t)).InputWarnings(plan.To); len(w) != 0 {
		t.Fatalf("warnings %q with both keys pinned", w)
	}
	// AND the step recovers entries 36..44 and checkpoint records 7 and 8 from A's own bucket and
	// its replica of B's, read as one series, each checkpoint checked with the key it names
	lines = nil
	msg = recoverLedgerAfterRestore(t, ctx, clients, f.A.DB, plan, progress)
	if !strings.Contains(msg, "9 entries and 2 checkpoint records recovered from s3://"+f.A.BucketName+", s3://"+replicaInA.Name) ||
		!strings.Contains(msg, "anchored up to entry 44, checkpoint 8") || strings.Contains(msg, "WARNING") || count() != 45 {
		t.Fatalf("%s\n%v (entries %d)", msg, lines, count())
	}
	// AND A's ledger verifies over both buckets with both keys
	if code, out, errOut := runAudit("", "verify", "--database", f.A.DB.Name(), "--bucket", f.A.BucketName, "--bucket", replicaInA.Name,
		"--public-key", keyA+"="+pemA, "--public-key", keyB+"="+pemB); code != 0 || !strings.Contains(out, "entries verified:     45") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	// AND a resumed step recovers nothing more
	if msg := recoverLedgerAfterRestore(t, ctx, clients, f.A.DB, plan, progress); !strings.Contains(msg, "0 entries and 0 checkpoint records") {
		t.Fatalf("resumed: %s", msg)
	}
}
