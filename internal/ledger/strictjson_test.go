package ledger

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// storedCheckpointJSON is the JSON of checkpoint 1 of a 25-entry fixture as Publish writes it,
// with the entries it carries.
func storedCheckpointJSON(t *testing.T) (string, *Checkpoint) {
	t.Helper()
	f := newFixture(t, 25, 10)
	cps, err := f.bucket.ListCheckpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp := *cps[1].Checkpoint
	c := &cp
	c.Entries = nil
	for s := c.FirstSeq; s < c.TreeSize; s++ {
		e, _, _ := f.store.EntryAt(context.Background(), s)
		c.Entries = append(c.Entries, e)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw), c
}

func TestCheckpointJSONIsReadInItsExactFormOnly(t *testing.T) {
	raw, c := storedCheckpointJSON(t)
	leaf := c.LeafHashes[0].String()
	// GIVEN the JSON of a published checkpoint THEN it reads back as written
	got, err := ParseCheckpoint([]byte(raw))
	if err != nil || got.Digest() != c.Digest() || len(got.Entries) != 10 {
		t.Fatalf("%v", err)
	}
	// WHEN it is written in another form that encoding/json alone would accept as the same
	// checkpoint (or as one with a field overridden) THEN it is refused, naming why
	for _, tc := range []struct{ name, json, want string }{
		{"a field name in another letter case", strings.Replace(raw, `"rootHash"`, `"RootHash"`, 1), `unknown field "RootHash"`},
		{"a field given twice in two cases", strings.Replace(raw, `{"version"`, `{"TreeSize":1,"version"`, 1), `unknown field "TreeSize"`},
		{"a field given twice", strings.Replace(raw, `{"version"`, `{"treeSize":1,"version"`, 1), `"treeSize" appears twice`},
		{"a leaf hash in upper case", strings.Replace(raw, leaf, strings.ToUpper(leaf), 1), "lowercase hex"},
		{"an unknown field", strings.Replace(raw, `{"version"`, `{"comment":"x","version"`, 1), `unknown field "comment"`},
		{"an extra field in a carried entry", strings.Replace(raw, `"eventId"`, `"note":"x","eventId"`, 1), `entries[0]: unknown field "note"`},
		{"a carried entry's field in another case", strings.Replace(raw, `"eventId"`, `"EventID"`, 1), `unknown field "EventID"`},
		{"an event field in another case", strings.Replace(raw, `"tenantId"`, `"TenantId"`, 1), `entries[0].event: unknown field "TenantId"`},
		{"data after the object", raw + `{}`, "data after"},
	} {
		if _, err := ParseCheckpoint([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestProofJSONIsReadInItsExactFormOnly(t *testing.T) {
	// GIVEN a proof as caro audit prove writes it
	f := newFixture(t, 25, 10)
	p := &Prover{Entries: f.store, Checkpoints: f.bucket, PublicKey: mustDER(t, f.signer)}
	e, _, _ := f.store.EntryAt(context.Background(), 3)
	proof, err := p.Prove(context.Background(), e.EventID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(proof)
	raw := string(b)
	if got, err := ParseProof(b); err != nil || got.Verify(nil) != nil {
		t.Fatalf("%v", err)
	}
	// WHEN a key changes case or a hash is upper-cased THEN the proof is refused
	path := proof.AuditPath[0].String()
	for _, bad := range []string{strings.Replace(raw, `"leafHash"`, `"LeafHash"`, 1), strings.Replace(raw, path, strings.ToUpper(path), 1)} {
		if _, err := ParseProof([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad[:80])
		}
	}
}

func mustDER(t *testing.T, s *KeySigner) []byte {
	der, err := s.PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return der
}
