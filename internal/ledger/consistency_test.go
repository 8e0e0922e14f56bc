package ledger

import (
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

func testLeaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		copy(out[i][:], rfc6962.DefaultHasher.HashLeaf([]byte(fmt.Sprint("leaf ", i))))
	}
	return out
}

// buildConsistency proves the tree of leaves[:m] (as a checkpoint carries it: size and compact
// range) consistent with the tree of leaves[:n], streaming leaves m..n-1.
func buildConsistency(t *testing.T, leaves []Hash, m, n int) (p []Hash, oldRoot, newRoot Hash) {
	t.Helper()
	rng, oldRoot, err := Extend(nil, leaves[:m])
	if err != nil {
		t.Fatal(err)
	}
	_, newRoot, _ = Extend(nil, leaves[:n])
	b, err := newConsistencyBuilder(&Checkpoint{TreeSize: uint64(m), CompactRange: rng}, uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves[m:n] {
		if err := b.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	if p, err = b.Proof(); err != nil {
		t.Fatal(err)
	}
	return p, oldRoot, newRoot
}

func TestConsistencyProofsCheckWithIndependentLibraries(t *testing.T) {
	leaves := testLeaves(70)
	pairs := [][2]int{{1000, 1000}}
	for m := 1; m <= 33; m++ {
		for n := m; n <= 70; n++ {
			pairs = append(pairs, [2]int{m, n})
		}
	}
	big := testLeaves(5000)
	for _, tc := range append(pairs[1:], [2]int{1000, 5000}, [2]int{4096, 4097}, [2]int{1, 5000}, [2]int{3333, 4999}) {
		m, n := tc[0], tc[1]
		ls := leaves
		if n > len(leaves) {
			ls = big
		}
		// GIVEN a proof built from the earlier checkpoint's compact range and the new leaves
		p, oldRoot, newRoot := buildConsistency(t, ls, m, n)
		// THEN transparency-dev/merkle's RFC 9162 verifier accepts it
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(m), uint64(n), toBytes(p), oldRoot[:], newRoot[:]); err != nil {
			t.Fatalf("%d -> %d: transparency-dev/merkle: %v", m, n, err)
		}
		// AND so does Go's checksum database library (golang.org/x/mod/sumdb/tlog), the same
		// RFC 6962 tree with its own implementation of the proof check
		tp := make(tlog.TreeProof, len(p))
		for i := range p {
			tp[i] = tlog.Hash(p[i])
		}
		if err := tlog.CheckTree(tp, int64(n), tlog.Hash(newRoot), int64(m), tlog.Hash(oldRoot)); err != nil && m != n {
			t.Fatalf("%d -> %d: x/mod tlog: %v", m, n, err)
		}
		// AND a proof with any node changed is refused by both
		if len(p) > 0 {
			bad := append([]Hash(nil), p...)
			bad[len(bad)/2][3] ^= 1
			if VerifyConsistency(uint64(m), uint64(n), bad, oldRoot, newRoot) == nil {
				t.Fatalf("%d -> %d: altered proof accepted", m, n)
			}
			tp[len(tp)/2][3] ^= 1
			if tlog.CheckTree(tp, int64(n), tlog.Hash(newRoot), int64(m), tlog.Hash(oldRoot)) == nil {
				t.Fatalf("%d -> %d: altered proof accepted by tlog", m, n)
			}
		}
	}
}
