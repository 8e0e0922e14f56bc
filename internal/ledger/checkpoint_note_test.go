package ledger

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// noteVerifier is a C2SP signed-note verifier for signature type 0x02 (ECDSA P-256 over SHA-256 of
// the note text, key hash = SHA-256(DER SPKI)[:4]), written from the spec for golang.org/x/mod's
// note package, which parses and checks the note format independently of this package.
type noteVerifier struct {
	name string
	der  []byte
	pub  *ecdsa.PublicKey
}

func (v noteVerifier) Name() string { return v.name }
func (v noteVerifier) KeyHash() uint32 {
	s := sha256.Sum256(v.der)
	return binary.BigEndian.Uint32(s[:4])
}
func (v noteVerifier) Verify(msg, sig []byte) bool {
	d := sha256.Sum256(msg)
	return ecdsa.VerifyASN1(v.pub, d[:], sig)
}

func TestCheckpointsAreC2SPSignedNotes(t *testing.T) {
	// GIVEN a published checkpoint
	f := newFixture(t, 12, 10)
	cps, _ := f.bucket.ListCheckpoints(context.Background())
	c := cps[0].Checkpoint
	der := mustDER(t, f.signer)
	// WHEN its note is opened with golang.org/x/mod/sumdb/note and an ECDSA verifier of its key
	v := noteVerifier{name: DefaultOrigin, der: der, pub: &f.signer.Key.PublicKey}
	n, err := note.Open([]byte(c.Note), note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v\n%s", err, c.Note)
	}
	// THEN it is a tlog checkpoint: origin, tree size, base64 root hash, then one extension line
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) != 4 || lines[0] != DefaultOrigin || lines[1] != strconv.FormatUint(c.TreeSize, 10) ||
		lines[2] != base64.StdEncoding.EncodeToString(c.RootHash[:]) || !strings.HasPrefix(lines[3], "caro.ledger.checkpoint.v2 ") {
		t.Fatalf("note text:\n%s", n.Text)
	}
	// AND a note signed by another key, or with the text changed, does not open
	other := testSigner(t)
	if _, err := note.Open([]byte(c.Note), note.VerifierList(noteVerifier{name: DefaultOrigin, der: mustDER(t, other), pub: &other.Key.PublicKey})); err == nil {
		t.Fatal("note opened with another key")
	}
	changed := strings.Replace(c.Note, "\n10\n", "\n11\n", 1)
	if changed == c.Note {
		t.Fatal("test did not change the note")
	}
	if _, err := note.Open([]byte(changed), note.VerifierList(v)); err == nil {
		t.Fatal("altered note opened")
	}
	// AND a checkpoint whose note was altered does not verify even though its signature does
	bad := *c
	bad.Note = strings.Replace(c.Note, DefaultOrigin+"\n", DefaultOrigin+"x\n", 1)
	if err := bad.VerifySignature(&f.signer.Key.PublicKey); err == nil || !strings.Contains(err.Error(), "signed note") {
		t.Fatalf("altered note: %v", err)
	}
}

func TestVersion1CheckpointsStillVerifyAndChainIntoVersion2(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger whose checkpoint 0 was written in version 1 (before signed notes)
	f := newFixture(t, 0, 10)
	for i := 0; i < 10; i++ {
		if _, _, err := f.ledger.Append(ctx, testEvent(i, "t1")); err != nil {
			t.Fatal(err)
		}
	}
	var leaves []Hash
	_ = f.store.ScanEntries(ctx, 0, func(e Entry) error { leaves = append(leaves, e.Hash); return nil })
	v1, err := NextCheckpoint(nil, leaves, time.Date(2026, 11, 23, 6, 0, 10, 0, time.UTC), f.signer.KeyID(), f.signer.Algorithm())
	if err != nil {
		t.Fatal(err)
	}
	v1.Version, v1.Origin = 1, ""
	if err := v1.Sign(ctx, f.signer); err != nil || v1.Note != "" {
		t.Fatalf("v1 sign: %v %q", err, v1.Note)
	}
	if err := f.store.InsertCheckpoint(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if err := f.bucket.Publish(ctx, v1, RetainUntil(v1.Time, DefaultRetentionYears)); err != nil {
		t.Fatal(err)
	}
	// WHEN the writer continues in version 2
	for i := 10; i < 25; i++ {
		if _, _, err := f.ledger.Append(ctx, testEvent(i, "t1")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cps, _ := f.bucket.ListCheckpoints(ctx)
	if len(cps) != 2 || cps[0].Checkpoint.Version != 1 || cps[1].Checkpoint.Version != 2 || cps[1].Checkpoint.PrevCheckpointHash != v1.Digest() {
		t.Fatalf("checkpoints: %+v", cps)
	}
	// THEN the whole ledger verifies
	rep, err := f.verifier().Verify(ctx, VerifyOptions{})
	if err != nil || !rep.OK || rep.CheckpointsVerified != 2 || rep.EntriesVerified != 25 {
		t.Fatalf("%+v %v", rep, err)
	}
	// AND a version 1 checkpoint given version 2 fields is refused
	mixed := *v1
	mixed.Origin = DefaultOrigin
	if err := mixed.Check(nil, &f.signer.Key.PublicKey); err == nil {
		t.Fatal("version 1 checkpoint with an origin accepted")
	}
}
