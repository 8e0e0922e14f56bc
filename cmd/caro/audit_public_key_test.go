package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

func TestAuditPublicKeyPrintsThePinnableKey(t *testing.T) {
	// GIVEN a ledger whose checkpoints are signed in (local) KMS
	env, _ := auditEnv(t, 1, 5)
	// WHEN the public key is exported
	code, out, errOut := runAudit("", "public-key")
	// THEN it is the PEM the checkpoints verify with, and its fingerprint is on stderr
	// AND the peer writer's CARO_LEDGER_PEER_PUBLIC_KEYS item
	if code != 0 || !bytes.Equal([]byte(out), env.PublicKeyPEM()) || !strings.Contains(errOut, ledger.KeyFingerprint(env.PublicKey)) ||
		!strings.Contains(errOut, env.Signer.Key+"="+base64.StdEncoding.EncodeToString(env.PublicKey)) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("CARO_LEDGER_SIGNING_KEY_ARN", "")
	if code, _, errOut := runAudit("", "public-key"); code != 1 || !strings.Contains(errOut, "--signing-key") {
		t.Fatalf("no key: exit %d %s", code, errOut)
	}
}
