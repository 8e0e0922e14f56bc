package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// cloudWithAccount is cloudFake whose credentials belong to an account (so buckets named after
// the account are derived).
type cloudWithAccount struct {
	cloudFake
	account string
}

func (c cloudWithAccount) Account(context.Context) (string, error) { return c.account, nil }

// clearAuditSettings unsets the environment overrides of the audit commands' settings, leaving
// the configuration's other places (the fake AWS, the committed files, defaults).
func clearAuditSettings(t *testing.T) {
	t.Helper()
	for _, v := range []string{"CARO_MONGODB_URI", "CARO_LEDGER_BUCKET", "CARO_LEDGER_REPLICA_BUCKET", "CARO_LEDGER_SIGNING_KEY_ARN", "CARO_LEDGER_PUBLIC_KEY",
		"CARO_REGION", "AWS_REGION", "CARO_LEDGER_CHECKPOINT_MAX_AGE", "CARO_LEDGER_CHECKPOINT_SCHEDULE", "CARO_LEDGER_RETENTION_YEARS"} {
		t.Setenv(v, "")
	}
}

func TestAuditCommandsTakeWhatIsNotPassedFromTheDeployedPlatform(t *testing.T) {
	// GIVEN a ledger of 7 entries (5 anchored) in the primary region, eu-west-1, and no CARO_*
	// variable but the database name: the bucket and signing key are the platform stack's
	// outputs, the connection string its secret, the account the credentials'
	env, ids := auditEnv(t, 7, 5)
	clearAuditSettings(t)
	uri := env.Servers.FerretDB.URI()
	withCloud(t, cloudWithAccount{account: "123456789012", cloudFake: cloudFake{
		outputs: map[string]map[string]string{"eu-west-1": {"LedgerBucket": env.BucketName, "LedgerSigningKeyArn": env.Signer.Key}},
		secrets: map[string]string{"eu-west-1 caro/eu-west-1/mongodb-uri": uri},
	}})

	// WHEN verified with no flag THEN it passes, naming each setting's source on stderr
	code, out, errOut := runAudit("", "verify")
	if code != 0 || !strings.Contains(out, "entries verified:     7") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"setting ledger-bucket = " + env.BucketName + " (stack output LedgerBucket of CaroPlatform-eu-west-1)",
		"setting ledger-signing-key = " + env.Signer.Key + " (stack output LedgerSigningKeyArn of CaroPlatform-eu-west-1)",
		"(secret caro/eu-west-1/mongodb-uri in eu-west-1)",
		"setting ledger-checkpoint-schedule = 5m (default",
		// the replica of the peer's bucket, named after the account, does not exist here: skipped, said
		"WARNING: checkpoint bucket s3://caro-ledger-replica-123456789012-eu-west-1 (the replica of the peer's, perhaps named by convention only) cannot be read",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// AND prove and public-key need no flag either
	if code, _, errOut := runAudit("", "prove", ids[2]); code != 0 {
		t.Fatalf("prove: exit %d\n%s", code, errOut)
	}
	code, out, errOut = runAudit("", "public-key", "-o", "json")
	var keys []auditPublicKey
	if code != 0 || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].KeyID != env.Signer.Key ||
		keys[0].Pinned != (pinnedkeys.Key{KeyArn: env.Signer.Key, DER: env.PublicKey}).String() || keys[0].PEM != string(env.PublicKeyPEM()) {
		t.Fatalf("public-key -o json: exit %d\n%s\n%s", code, out, errOut)
	}

	// WHEN the writer's checkpoint max age and schedule are set (1ms) and have passed THEN the two
	// unanchored entries are a finding (exit 2), with no --max-age or --checkpoint-schedule
	t.Setenv("CARO_LEDGER_CHECKPOINT_MAX_AGE", "1ms")
	t.Setenv("CARO_LEDGER_CHECKPOINT_SCHEDULE", "1ms")
	if code, out, _ := runAudit("", "verify"); code != exitAuditFailed || !strings.Contains(out, "anchored by no checkpoint") {
		t.Fatalf("settings' max age and schedule: exit %d\n%s", code, out)
	}
	// AND the flags still win over the settings
	if code, out, errOut := runAudit("", "verify", "--max-age", "1h", "--checkpoint-schedule", "1h"); code != 0 {
		t.Fatalf("flags over settings: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("CARO_LEDGER_CHECKPOINT_SCHEDULE", "soon")
	if code, _, errOut := runAudit("", "verify"); code != 1 || !strings.Contains(errOut, "invalid setting ledger-checkpoint-schedule \"soon\" (environment CARO_LEDGER_CHECKPOINT_SCHEDULE)") {
		t.Fatalf("bad setting: exit %d %s", code, errOut)
	}

	// WHEN the platform is not deployed (no outputs, no secret) THEN verify says what is missing
	// and how to set it
	withCloud(t, cloudFake{})
	if code, _, errOut := runAudit("", "verify"); code != 1 || !strings.Contains(errOut, "pass --mongodb-uri") || !strings.Contains(errOut, "caro/eu-west-1/mongodb-uri") {
		t.Fatalf("nothing deployed: exit %d %s", code, errOut)
	}
}

func TestAuditKeysFromTheConfigurationPinTheOthersAndAskKMSForTheRegionsOwn(t *testing.T) {
	// GIVEN region B continued region A's ledger after a failover; the configuration pins A's key
	// in the committed form, and B's signing key is B's own (the environment of region B)
	_, f := auditFailoverEnv(t)
	itemA := pinnedkeys.Key{KeyArn: f.A.Signer.Key, DER: f.A.PublicKey}.String()
	itemB := pinnedkeys.Key{KeyArn: f.B.Signer.Key, DER: f.B.PublicKey}.String()
	t.Setenv("CARO_LEDGER_PUBLIC_KEY", itemA)
	t.Setenv("CARO_LEDGER_REPLICA_BUCKET", f.Replica.Name)

	// WHEN verified with no key flag THEN A's checkpoints are checked with the pinned key, B's
	// with B's key from KMS, and all 36 entries hold
	code, out, errOut := runAudit("", "verify")
	if code != 0 || !strings.Contains(out, "entries verified:     36") || !strings.Contains(errOut, "(keys ") || !strings.Contains(errOut, f.A.Signer.Key+" ") || !strings.Contains(errOut, f.B.Signer.Key+" ") ||
		!strings.Contains(errOut, "setting ledger-public-keys = "+itemA[:80]+"... (environment CARO_LEDGER_PUBLIC_KEY)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// AND a key given as a flag replaces the configuration's: B alone refuses A's checkpoints
	if code, out, _ := runAudit("", "verify", "--public-key", itemB); code != exitAuditFailed || !strings.Contains(out, "not one of the pinned keys") {
		t.Fatalf("flag over setting: exit %d\n%s", code, out)
	}

	// WHEN a proof of an entry region B appended is checked with no key flag THEN the keys pinned
	// in the configuration are used: both hold it, A's alone does not
	code, proof, errOut := runAudit("", "prove", f.IDs[30])
	if code != 0 {
		t.Fatalf("prove: exit %d\n%s", code, errOut)
	}
	t.Setenv("CARO_LEDGER_PUBLIC_KEY", itemA+","+itemB)
	if code, out, errOut := runAudit(proof, "check-proof", "-"); code != 0 || !strings.Contains(out, "proof OK") ||
		!strings.Contains(errOut, "pinned keys: setting ledger-public-keys (environment CARO_LEDGER_PUBLIC_KEY)") || strings.Contains(errOut, "no key pinned") {
		t.Fatalf("check-proof, both pinned: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("CARO_LEDGER_PUBLIC_KEY", itemA)
	if code, _, errOut := runAudit(proof, "check-proof", "-"); code != exitAuditFailed || !strings.Contains(errOut, "not one of the pinned keys") {
		t.Fatalf("check-proof, A pinned: exit %d\n%s", code, errOut)
	}
	// AND a pin that cannot be read is an error naming the setting, not a silent unpinned check
	t.Setenv("CARO_LEDGER_PUBLIC_KEY", f.A.Signer.Key+"=/nonexistent.pem")
	if code, _, errOut := runAudit(proof, "check-proof", "-"); code != 1 || !strings.Contains(errOut, "setting ledger-public-keys (environment CARO_LEDGER_PUBLIC_KEY) /nonexistent.pem cannot be read") {
		t.Fatalf("bad pin: exit %d %s", code, errOut)
	}
}

func TestAuditRecoverAndReleaseHoldConfirmThroughConfirm(t *testing.T) {
	ctx := context.Background()
	// GIVEN a restored ledger that is missing 8 anchored entries, held by the restore
	env, _ := auditEnv(t, 7, 5)
	restore := auditLedgerCopy(t, env.DB)
	auditAppend(t, env, 7, 17)
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-1", Reason: "test restore"}); err != nil {
		t.Fatal(err)
	}
	restore()
	uri := env.Servers.FerretDB.URI()
	entries := func() int64 { return countLedger(t, env.DB.Collection(ledger.EntriesCollection)) }
	before := entries()

	// WHEN recover runs without --yes and without a terminal THEN it refuses, saying to pass
	// -y/--yes, and writes nothing
	code, _, errOut := runAudit("", "recover", "--mongodb-uri", uri)
	if code != 1 || !strings.Contains(errOut, "no terminal to ask on: pass -y/--yes") || !strings.Contains(errOut, "database "+env.DB.Name()) || entries() != before {
		t.Fatalf("no terminal: exit %d %s", code, errOut)
	}
	// WHEN asked on a terminal and answered no THEN nothing changes; the question is on stderr
	in, term := &fakeTerminal{}, &fakeTerminal{}
	in.WriteString("n\n")
	var out bytes.Buffer
	if code := Execute([]string{"audit", "recover", "--mongodb-uri", uri}, in, &out, term); code != 1 ||
		!strings.Contains(term.String(), "recover appends the missing audit entries") || !strings.Contains(term.String(), "[y/N]") || entries() != before {
		t.Fatalf("answered no: exit %d\n%s\n%s", code, out.String(), term.String())
	}
	// WHEN answered yes THEN it recovers
	in, term = &fakeTerminal{}, &fakeTerminal{}
	in.WriteString("y\n")
	out.Reset()
	if code := Execute([]string{"audit", "recover", "--mongodb-uri", uri}, in, &out, term); code != 0 || !strings.Contains(out.String(), "entries recovered:     8") {
		t.Fatalf("answered yes: exit %d\n%s\n%s", code, out.String(), term.String())
	}

	// GIVEN a held ledger again
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-2", Reason: "old-format checkpoints"}); err != nil {
		t.Fatal(err)
	}
	// WHEN release-hold runs without a terminal and --yes THEN it refuses and the hold stays
	if code, _, errOut := runAudit("", "release-hold", "--mongodb-uri", uri, "--reason", "INC-2"); code != 1 || !strings.Contains(errOut, "pass -y/--yes") {
		t.Fatalf("release-hold, no terminal: exit %d %s", code, errOut)
	}
	if h, _ := ledger.ReadHold(ctx, env.DB); h == nil {
		t.Fatal("hold released without confirmation")
	}
	// AND -y confirms
	if code, _, errOut := runAudit("", "release-hold", "--mongodb-uri", uri, "--reason", "INC-2", "-y"); code != 0 || !strings.Contains(errOut, "WITHOUT recovery") {
		t.Fatalf("release-hold -y: exit %d %s", code, errOut)
	}

	// WHEN the database is named the old way, --target THEN the flag is unknown
	for _, verb := range []string{"recover", "release-hold"} {
		if code, _, errOut := runAudit("", verb, "--target", uri, "--reason", "r", "--yes"); code != 1 || !strings.Contains(errOut, "unknown flag: --target") {
			t.Errorf("%s --target: exit %d %s", verb, code, errOut)
		}
	}
	// AND recover and release-hold never take the database they write to from the configuration
	// (CARO_MONGODB_URI is set here)
	for _, args := range [][]string{{"recover", "--yes"}, {"release-hold", "--reason", "r", "--yes"}} {
		if code, _, errOut := runAudit("", args...); code != 1 || !strings.Contains(errOut, "pass --mongodb-uri <uri>") {
			t.Errorf("%v: exit %d %s", args, code, errOut)
		}
	}
}

func TestAuditHelpShowsNoValueFromTheEnvironment(t *testing.T) {
	// GIVEN the settings of the audit commands in the environment, a password among them
	withCloud(t, cloudFake{})
	t.Setenv("CARO_MONGODB_URI", "mongodb://admin:hunter2-secret@db.example/")
	t.Setenv("CARO_LEDGER_BUCKET", "caro-ledger-from-env")
	t.Setenv("CARO_LEDGER_SIGNING_KEY_ARN", "arn:aws:kms:eu-west-1:123456789012:key/from-env")
	t.Setenv("CARO_LEDGER_CHECKPOINT_MAX_AGE", "17m")
	// WHEN every audit command's help is printed THEN none of them shows up
	for _, verb := range []string{"verify", "prove", "check-proof", "public-key", "recover", "release-hold"} {
		code, out, errOut := runAudit("", verb, "--help")
		help := out + errOut
		if code != 0 || !strings.Contains(help, "--mongodb-uri") {
			t.Fatalf("%s --help: exit %d\n%s", verb, code, help)
		}
		for _, leak := range []string{"hunter2", "caro-ledger-from-env", "key/from-env", "17m"} {
			if strings.Contains(help, leak) {
				t.Errorf("caro audit %s --help shows %q from the environment", verb, leak)
			}
		}
	}
}
