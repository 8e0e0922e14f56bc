package ledger

import (
	"context"
	"strings"
	"testing"
)

// tamperTarget lets the same tamper cases run against the in-memory store and against FerretDB
// (where they use update/delete calls that exist only in test code).
type tamperTarget interface {
	Get(t *testing.T, seq uint64) Entry
	Put(t *testing.T, e Entry) // replace (or create) the document of e.Seq
	Del(t *testing.T, seq uint64)
	Count(t *testing.T) uint64
}

func (m *memStore) Get(t *testing.T, seq uint64) Entry {
	e, ok := m.entries[seq]
	if !ok {
		t.Fatalf("no entry %d", seq)
	}
	return e
}
func (m *memStore) Put(_ *testing.T, e Entry)    { m.entries[e.Seq] = e }
func (m *memStore) Del(_ *testing.T, seq uint64) { delete(m.entries, seq) }
func (m *memStore) Count(*testing.T) uint64      { return uint64(len(m.entries)) }
func (m *memStore) String() string               { return "memory" }
func rehash(e Entry) Entry                       { e.Hash = e.Recompute(); return e }
func relink(e Entry, prev Hash) Entry            { e.PrevHash = prev; return rehash(e) }
func withSeq(e Entry, seq uint64) Entry          { e.Seq = seq; return e }
func rechainFrom(t *testing.T, tt tamperTarget, seq uint64) {
	// An attacker with database access recomputes every hash after their change.
	n := tt.Count(t)
	var prev Hash
	if seq > 0 {
		prev = tt.Get(t, seq-1).Hash
	}
	for s := seq; s < n; s++ {
		e := relink(tt.Get(t, s), prev)
		tt.Put(t, e)
		prev = e.Hash
	}
}

// entryTamperCases: fixture of 25 entries, checkpoints at tree sizes 10 and 20, 5 unanchored.
var entryTamperCases = []struct {
	name    string
	tamper  func(t *testing.T, tt tamperTarget)
	wantSeq uint64
	reason  string
}{
	{"edit an entry", func(t *testing.T, tt tamperTarget) {
		e := tt.Get(t, 7)
		e.Event.Action = "patient:read"
		tt.Put(t, e)
	}, 7, "contents do not match"},
	{"edit an entry and rehash the chain after it", func(t *testing.T, tt tamperTarget) {
		e := tt.Get(t, 7)
		e.Event.ResourceID = "p999999"
		tt.Put(t, rehash(e))
		rechainFrom(t, tt, 8)
	}, 7, "anchored in checkpoint 0"},
	{"edit an unanchored entry", func(t *testing.T, tt tamperTarget) {
		e := tt.Get(t, 22)
		e.Event.TenantID = "tenant-x"
		tt.Put(t, e)
	}, 22, "contents do not match"},
	{"delete an entry", func(t *testing.T, tt tamperTarget) { tt.Del(t, 7) }, 7, "missing"},
	{"delete an entry, renumber and rehash", func(t *testing.T, tt tamperTarget) {
		n := tt.Count(t)
		for s := uint64(8); s < n; s++ {
			tt.Put(t, withSeq(tt.Get(t, s), s-1))
		}
		tt.Del(t, n-1)
		rechainFrom(t, tt, 7)
	}, 7, "anchored in checkpoint 0"},
	{"delete the newest anchored entries", func(t *testing.T, tt tamperTarget) {
		for s := uint64(15); s < 25; s++ {
			tt.Del(t, s)
		}
	}, 15, "missing"},
	{"reorder two entries", func(t *testing.T, tt tamperTarget) {
		a, b := tt.Get(t, 12), tt.Get(t, 13)
		tt.Put(t, withSeq(b, 12))
		tt.Put(t, withSeq(a, 13))
	}, 12, "contents do not match"},
	{"reorder two entries and rehash", func(t *testing.T, tt tamperTarget) {
		a, b := tt.Get(t, 12), tt.Get(t, 13)
		tt.Put(t, withSeq(b, 12))
		tt.Put(t, withSeq(a, 13))
		rechainFrom(t, tt, 12)
	}, 12, "anchored in checkpoint 1"},
	{"insert an entry", func(t *testing.T, tt tamperTarget) {
		n := tt.Count(t)
		for s := n; s > 4; s-- {
			tt.Put(t, withSeq(tt.Get(t, s-1), s))
		}
		fake := tt.Get(t, 5) // the original entry 4, moved up
		fake.Event.ID, fake.EventID = "00000000000000000000000000000bad", "00000000000000000000000000000bad"
		tt.Put(t, withSeq(fake, 4))
		rechainFrom(t, tt, 4)
	}, 4, "anchored in checkpoint 0"},
	{"insert an entry without renumbering the rest", func(t *testing.T, tt tamperTarget) {
		fake := tt.Get(t, 24)
		fake.Event.ID, fake.EventID = "00000000000000000000000000000bad", "00000000000000000000000000000bad"
		tt.Put(t, rehash(withSeq(fake, 25))) // prevHash still points at entry 23
	}, 25, "prevHash does not match the hash of entry 24"},
}

func runEntryTamperCases(t *testing.T, setup func(t *testing.T) (tamperTarget, *Verifier)) {
	for _, tc := range entryTamperCases {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a verified ledger of 25 entries
			tt, v := setup(t)
			rep, err := v.Verify(context.Background(), VerifyOptions{})
			if err != nil || !rep.OK || rep.EntriesVerified != 25 {
				t.Fatalf("before tampering: %+v %v", rep, err)
			}
			// WHEN it is tampered with
			tc.tamper(t, tt)
			// THEN verification fails naming the first bad entry
			rep, err = v.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.FirstBad.Seq != tc.wantSeq || !strings.Contains(rep.FirstBad.Reason, tc.reason) {
				t.Fatalf("first bad = %s; want entry %d with %q", rep.FirstBad, tc.wantSeq, tc.reason)
			}
			if rep.EntriesVerified != tc.wantSeq {
				t.Fatalf("verified %d entries before the bad one, want %d", rep.EntriesVerified, tc.wantSeq)
			}
		})
	}
}

func TestTamperedEntriesAreDetectedInMemory(t *testing.T) {
	runEntryTamperCases(t, func(t *testing.T) (tamperTarget, *Verifier) {
		f := newFixture(t, 25, 10)
		return f.store, f.verifier()
	})
}

// checkpointTamperCases alter what is in the bucket. In S3 Object Lock forbids this; the cases model
// an attacker who replaced the bucket contents (or a bug) and must still be caught.
var checkpointTamperCases = []struct {
	name    string
	tamper  func(cps []StoredCheckpoint, other *KeySigner) []StoredCheckpoint
	wantSeq uint64
	reason  string
}{
	{"alter a checkpoint root", func(cps []StoredCheckpoint, _ *KeySigner) []StoredCheckpoint {
		cps[1].Checkpoint.RootHash[0] ^= 1
		return cps
	}, 10, "root hash does not match"},
	{"alter a checkpoint leaf hash", func(cps []StoredCheckpoint, _ *KeySigner) []StoredCheckpoint {
		cps[0].Checkpoint.LeafHashes[3][5] ^= 1
		return cps
	}, 0, "root hash does not match"},
	{"alter a checkpoint and re-sign it with another key", func(cps []StoredCheckpoint, other *KeySigner) []StoredCheckpoint {
		c := cps[1].Checkpoint
		c.LeafHashes[2][0] ^= 1
		rng, root, _ := Extend(cps[0].Checkpoint, c.LeafHashes)
		c.RootHash, c.CompactRange = root, rng
		d := c.Digest()
		c.Signature, _ = other.SignDigest(context.Background(), d[:])
		return cps
	}, 10, "signature does not verify"},
	{"swap signatures", func(cps []StoredCheckpoint, _ *KeySigner) []StoredCheckpoint {
		cps[0].Checkpoint.Signature, cps[1].Checkpoint.Signature = cps[1].Checkpoint.Signature, cps[0].Checkpoint.Signature
		return cps
	}, 0, "signature does not verify"},
	{"remove a checkpoint", func(cps []StoredCheckpoint, _ *KeySigner) []StoredCheckpoint {
		return cps[1:]
	}, 0, "number 1 where 0 was expected"},
	{"break the checkpoint chain", func(cps []StoredCheckpoint, _ *KeySigner) []StoredCheckpoint {
		cps[1].Checkpoint.PrevCheckpointHash[0] ^= 1
		return cps
	}, 10, "chain of checkpoints broken"},
}

// tamperedBucket serves a modified copy of another bucket's listing.
type tamperedBucket struct {
	CheckpointReader
	edit  func([]StoredCheckpoint, *KeySigner) []StoredCheckpoint
	other *KeySigner
}

func (b tamperedBucket) ListCheckpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	cps, err := b.CheckpointReader.ListCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	for i := range cps { // deep-copy so the edit does not touch the original
		c := *cps[i].Checkpoint
		c.LeafHashes = append([]Hash(nil), c.LeafHashes...)
		c.Signature = append([]byte(nil), c.Signature...)
		cps[i].Checkpoint = &c
	}
	return b.edit(cps, b.other), nil
}

func TestTamperedCheckpointsAreDetected(t *testing.T) {
	for _, tc := range checkpointTamperCases {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a ledger of 25 entries with two checkpoints
			f := newFixture(t, 25, 10)
			v := f.verifier()
			// WHEN the checkpoints read back are altered
			v.Checkpoints = tamperedBucket{CheckpointReader: f.bucket, edit: tc.tamper, other: testSigner(t)}
			rep, err := v.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// THEN verification fails at the first entry the bad checkpoint covers
			if rep.OK || rep.FirstBad == nil || rep.FirstBad.Checkpoint == nil {
				t.Fatalf("not detected: %+v", rep)
			}
			if rep.FirstBad.Seq != tc.wantSeq || !strings.Contains(rep.FirstBad.Reason, tc.reason) {
				t.Fatalf("first bad = %s; want entry %d with %q", rep.FirstBad, tc.wantSeq, tc.reason)
			}
		})
	}
}
