package ledger_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
)

// TestAProofWhoseCheckpointSignatureIsBadIsRefused: a proof whose entry, path and root all agree is
// still refused when its checkpoint's signature does not verify under the key: the root it leads to
// is then anyone's.
func TestAProofWhoseCheckpointSignatureIsBadIsRefused(t *testing.T) {
	ctx := context.Background()
	env := filled(t, 12, 10)
	p := &ledger.Prover{Entries: env.Store, Checkpoints: env.Bucket, PublicKey: env.PublicKey}
	var ids []string
	_ = env.Store.ScanEntries(ctx, 0, func(e ledger.Entry) error { ids = append(ids, e.EventID); return nil })
	proof, err := p.Prove(ctx, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(env.PublicKey); err != nil {
		t.Fatal(err)
	}
	forged := *proof
	cp := *proof.Checkpoint
	cp.Signature = bytes.Clone(cp.Signature)
	cp.Signature[len(cp.Signature)/2] ^= 1
	forged.Checkpoint = &cp
	if err := forged.Verify(env.PublicKey); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("a proof with a bad checkpoint signature: %v", err)
	}
}
