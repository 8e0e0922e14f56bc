package ledger

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
)

// twoKeyFixture is a ledger of 20 entries checkpointed every 5: checkpoints 0 and 1 signed by key
// A, then (as after a failover to the other region) 2 and 3 by key B.
func twoKeyFixture(t *testing.T) (*fixture, *KeySigner, *KeySigner) {
	t.Helper()
	a := testSigner(t)
	a.ID = "arn:aws:kms:eu-west-1:111122223333:key/a"
	f := &fixture{store: newMemStore(), bucket: newMemBucket(), signer: a}
	f.ledger = &Ledger{Store: f.store}
	f.cpr = &Checkpointer{Entries: f.store, Records: f.store, Bucket: f.bucket, Signer: a, Interval: 5, MaxAge: 1 << 62}
	f.append(t, 10)
	b := testSigner(t)
	b.ID = "arn:aws:kms:eu-central-1:111122223333:key/b"
	f.cpr.Signer = b
	f.append(t, 10)
	return f, a, b
}

func TestKeyRingVerifiesEachCheckpointWithTheKeyItNames(t *testing.T) {
	ctx := context.Background()
	// GIVEN checkpoints 0-1 signed by key A and 2-3 by key B
	f, a, b := twoKeyFixture(t)
	ring := KeyRing{a.ID: &a.Key.PublicKey, b.ID: &b.Key.PublicKey}
	// WHEN verified with both keys pinned THEN everything holds
	v := f.verifier()
	v.PublicKey, v.PublicKeys = nil, ring
	if rep, err := v.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK || rep.CheckpointsVerified != 4 || rep.EntriesVerified != 20 {
		t.Fatalf("%+v %v", rep, err)
	}
	// WHEN only key A is pinned THEN checkpoint 2 is refused, naming its unknown key
	v.PublicKeys = KeyRing{a.ID: &a.Key.PublicKey}
	rep, err := v.Verify(ctx, VerifyOptions{})
	if err != nil || rep.OK || rep.CheckpointsVerified != 2 || *rep.FirstBad.Checkpoint != 2 || !strings.Contains(rep.FirstBad.Reason, "not one of the pinned keys") ||
		!strings.Contains(rep.FirstBad.Reason, b.ID) {
		t.Fatalf("%+v %v", rep.FirstBad, err)
	}
	// WHEN key B's ID is pinned with key A's public key THEN checkpoint 2's signature fails
	v.PublicKeys = KeyRing{a.ID: &a.Key.PublicKey, b.ID: &a.Key.PublicKey}
	if rep, _ := v.Verify(ctx, VerifyOptions{}); rep.OK || *rep.FirstBad.Checkpoint != 2 || !strings.Contains(rep.FirstBad.Reason, "signature") {
		t.Fatalf("%+v", rep.FirstBad)
	}
	// AND a single-key verifier (the old way) stops at checkpoint 2
	v.PublicKey, v.PublicKeys = &a.Key.PublicKey, nil
	if rep, _ := v.Verify(ctx, VerifyOptions{}); rep.OK || *rep.FirstBad.Checkpoint != 2 {
		t.Fatalf("%+v", rep.FirstBad)
	}
}

func TestProverWithAKeyRingCarriesTheKeyOfItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	f, a, b := twoKeyFixture(t)
	derA, _ := x509.MarshalPKIXPublicKey(&a.Key.PublicKey)
	derB, _ := x509.MarshalPKIXPublicKey(&b.Key.PublicKey)
	ev, ok, err := f.store.EntryAt(ctx, 17)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	p := &Prover{Entries: f.store, Checkpoints: f.bucket, PublicKeys: map[string][]byte{a.ID: derA, b.ID: derB}}
	proof, err := p.Prove(ctx, ev.EventID)
	if err != nil || proof.Checkpoint.KeyID != b.ID || KeyFingerprint(proof.PublicKey) != KeyFingerprint(derB) {
		t.Fatalf("%+v %v", proof, err)
	}
	if err := proof.Verify(derB); err != nil {
		t.Fatal(err)
	}
	// An unknown key ID is refused.
	p.PublicKeys = map[string][]byte{a.ID: derA}
	if _, err := p.Prove(ctx, ev.EventID); err == nil || !strings.Contains(err.Error(), "not one of the pinned keys") {
		t.Fatalf("unknown key: %v", err)
	}
}
