package ledger

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// consistencyBuilder builds the RFC 9162 §2.1.4 consistency proof from the tree of an earlier
// checkpoint to a later tree size while the leaf hashes between them stream past (Add, in order),
// so a verification that reads them anyway proves consistency without keeping them: memory holds
// the proof's O(log n) nodes. The nodes inside the earlier tree come from its compact range
// (every checkpoint carries it), the others are subtrees of the new leaves.
type consistencyBuilder struct {
	oldSize, newSize uint64
	nodes            proof.Nodes
	hashes           [][]byte
	// pending are the proof nodes over new leaves, by start: index into hashes and the range.
	pending []pendingNode
	cur     *compact.Range
	next    uint64 // the next leaf index Add expects
}

type pendingNode struct {
	slot       int
	begin, end uint64
}

// newConsistencyBuilder starts the proof from old (its TreeSize and CompactRange; nil or empty for
// the empty tree) to newSize.
func newConsistencyBuilder(old *Checkpoint, newSize uint64) (*consistencyBuilder, error) {
	var oldSize uint64
	var oldRange []Hash
	if old != nil {
		oldSize, oldRange = old.TreeSize, old.CompactRange
	}
	nodes, err := proof.Consistency(oldSize, newSize)
	if err != nil {
		return nil, err
	}
	b := &consistencyBuilder{oldSize: oldSize, newSize: newSize, nodes: nodes, hashes: make([][]byte, len(nodes.IDs)), next: oldSize}
	known := map[compact.NodeID][]byte{}
	ids := compact.RangeNodes(0, oldSize, nil)
	if len(ids) != len(oldRange) {
		return nil, fmt.Errorf("checkpoint's compact range has %d hashes for a tree of %d leaves (want %d)", len(oldRange), oldSize, len(ids))
	}
	for i, id := range ids {
		known[id] = oldRange[i][:]
	}
	for i, id := range nodes.IDs {
		if h, ok := known[id]; ok {
			b.hashes[i] = h
			continue
		}
		begin, end := id.Index<<id.Level, (id.Index+1)<<id.Level
		if begin < oldSize || end > newSize {
			return nil, fmt.Errorf("consistency proof node %v is neither in the earlier tree's compact range nor over new leaves", id)
		}
		b.pending = append(b.pending, pendingNode{slot: i, begin: begin, end: end})
	}
	// The pending nodes cover disjoint ranges of the new leaves: order them as the leaves come.
	slices.SortFunc(b.pending, func(x, y pendingNode) int { return cmp.Compare(x.begin, y.begin) })
	return b, nil
}

// Add takes the next leaf hash (leaf index oldSize, oldSize+1, ... in order).
func (b *consistencyBuilder) Add(leaf Hash) error {
	i := b.next
	b.next++
	if len(b.pending) == 0 || i < b.pending[0].begin {
		return nil
	}
	p := b.pending[0]
	if b.cur == nil {
		b.cur = rangeFactory.NewEmptyRange(p.begin)
	}
	if err := b.cur.Append(append([]byte(nil), leaf[:]...), nil); err != nil {
		return err
	}
	if i+1 == p.end {
		// A full, aligned perfect subtree: the range is that one node.
		hs := b.cur.Hashes()
		if len(hs) != 1 {
			return fmt.Errorf("subtree [%d, %d) did not reduce to one node", p.begin, p.end)
		}
		b.hashes[p.slot], b.cur, b.pending = hs[0], nil, b.pending[1:]
	}
	return nil
}

// Proof returns the proof once every leaf up to newSize was added.
func (b *consistencyBuilder) Proof() ([]Hash, error) {
	if b.next != b.newSize || len(b.pending) > 0 {
		return nil, fmt.Errorf("consistency proof to tree size %d: %d leaves given, %d nodes missing", b.newSize, b.next, len(b.pending))
	}
	out, err := b.nodes.Rehash(b.hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, err
	}
	return toHashes(out), nil
}

// VerifyConsistency checks an RFC 9162 consistency proof between two tree heads.
func VerifyConsistency(oldSize, newSize uint64, p []Hash, oldRoot, newRoot Hash) error {
	return proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, newSize, toBytes(p), oldRoot[:], newRoot[:])
}
