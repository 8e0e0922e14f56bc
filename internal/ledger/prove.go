package ledger

import (
	"context"
	"crypto"
	"errors"
	"fmt"
)

// ErrNotAnchored means the entry exists but no checkpoint covers it yet; retry after the next one.
var ErrNotAnchored = errors.New("entry is not anchored by a checkpoint yet")

// ErrNoEntry means no entry holds the event.
var ErrNoEntry = errors.New("no ledger entry for this event")

// Prover builds inclusion proofs from the entries and the published checkpoints. The audit path is
// computed from the leaf hashes stored in the (verified) checkpoints, not from the database, so a
// tampered database cannot produce a proof for an altered entry.
type Prover struct {
	Entries     EntryStore
	Checkpoints CheckpointReader
	// PublicKey is the DER public key of the signer; the checkpoint chain is checked with it first.
	// Ignored when PublicKeys is set.
	PublicKey []byte
	// PublicKeys, when not empty, are the pinned DER public keys by key ID (a ledger signed in two
	// regions after a failover): each checkpoint is checked with the key its KeyID names (other IDs
	// are refused), and the proof carries the key of the checkpoint it is against.
	PublicKeys map[string][]byte
}

// Prove returns the inclusion proof of the entry holding event id, against the first checkpoint that
// covers it.
func (p *Prover) Prove(ctx context.Context, id string) (*InclusionProof, error) {
	e, ok, err := p.Entries.EntryByEventID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("looking up event %s: %w", id, err)
	}
	if !ok {
		return nil, fmt.Errorf("event %s: %w", id, ErrNoEntry)
	}
	var single crypto.PublicKey
	ring, err := NewKeyRing(p.PublicKeys)
	if err != nil {
		return nil, err
	}
	if len(ring) == 0 {
		if single, err = ParsePublicKey(p.PublicKey); err != nil {
			return nil, err
		}
	}
	stored, err := p.Checkpoints.ListCheckpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	var leaves []Hash
	var prev *Checkpoint
	for i, sc := range stored {
		if sc.Err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", sc.Key, sc.Err)
		}
		pub, err := checkpointKey(ring, single, sc.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d %v: run `caro audit verify`", i, err)
		}
		if err := sc.Checkpoint.Check(prev, pub); err != nil {
			return nil, fmt.Errorf("checkpoint %d does not verify (%v): run `caro audit verify`", i, err)
		}
		leaves = append(leaves, sc.Checkpoint.LeafHashes...)
		prev = sc.Checkpoint
		if sc.Checkpoint.TreeSize > e.Seq {
			break
		}
	}
	if prev == nil || prev.TreeSize <= e.Seq {
		return nil, fmt.Errorf("entry %d (event %s): %w", e.Seq, id, ErrNotAnchored)
	}
	if leaves[e.Seq] != e.Hash || e.Recompute() != e.Hash {
		return nil, fmt.Errorf("entry %d (event %s) does not match its anchored hash: it was altered; run `caro audit verify`", e.Seq, id)
	}
	path, err := InclusionPath(leaves, e.Seq)
	if err != nil {
		return nil, err
	}
	der := p.PublicKey
	if len(ring) > 0 {
		der = p.PublicKeys[prev.KeyID]
	}
	return &InclusionProof{
		Version: ProofVersion, EntryID: id, LeafIndex: e.Seq, TreeSize: prev.TreeSize, LeafHash: e.Hash, AuditPath: path,
		Entry:      ProofEntry{Seq: e.Seq, PrevHash: e.PrevHash, Event: e.Event},
		Checkpoint: prev, PublicKey: der, PublicKeySHA256: KeyFingerprint(der),
	}, nil
}
