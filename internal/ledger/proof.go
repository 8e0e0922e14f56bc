package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carohealth/platform/internal/audit"
)

// ProofVersion is the version of the InclusionProof JSON.
const ProofVersion = 1

// InclusionProof shows, without database access, that an entry is in the log anchored by a signed
// checkpoint. Offline procedure (what CheckProof does, doable with any RFC 6962 library):
//  1. leafHash = SHA-256(0x00 || EncodeEntry(entry.seq, entry.prevHash, entry.event)) (package doc)
//     must equal LeafHash;
//  2. the RFC 9162 §2.1.3.2 inclusion verification of LeafHash at LeafIndex in a tree of TreeSize
//     with AuditPath must give checkpoint.rootHash, and TreeSize must equal checkpoint.treeSize;
//  3. the checkpoint's signature over its digest (version 2: SHA-256 of its signed note's text,
//     whose extension line is the base64 SHA-256 of the checkpoint encoding; version 1: SHA-256
//     of the checkpoint encoding) must verify with PublicKey
//     (DER SubjectPublicKeyInfo, ECDSA P-256), and PublicKey must be the ledger's trusted key
//     (compare PublicKeySHA256 with the fingerprint published by the platform, or pin it with
//     `caro audit check-proof --public-key`).
type InclusionProof struct {
	Version   int    `json:"version"`
	EntryID   string `json:"entryId"`
	LeafIndex uint64 `json:"leafIndex"`
	TreeSize  uint64 `json:"treeSize"`
	LeafHash  Hash   `json:"leafHash"`
	AuditPath []Hash `json:"auditPath"`
	// Entry is the ledger entry itself, so the checker recomputes LeafHash from the event.
	Entry ProofEntry `json:"entry"`
	// Checkpoint is the signed checkpoint whose root the path leads to (with its signature).
	Checkpoint *Checkpoint `json:"checkpoint"`
	// PublicKey is the DER SubjectPublicKeyInfo of the signing key; PublicKeySHA256 its fingerprint.
	PublicKey       []byte `json:"publicKey"`
	PublicKeySHA256 string `json:"publicKeySha256"`
}

// ProofEntry is the part of an entry a proof carries.
type ProofEntry struct {
	Seq      uint64      `json:"seq"`
	PrevHash Hash        `json:"prevHash"`
	Event    audit.Event `json:"event"`
}

// ParseProof reads an inclusion proof's JSON strictly, as ParseCheckpoint does: unknown fields,
// field names in another letter case and hashes not in lowercase hex are refused.
func ParseProof(raw []byte) (*InclusionProof, error) {
	var p InclusionProof
	if err := decodeStrictJSON(raw, &p); err != nil {
		return nil, fmt.Errorf("not a ledger inclusion proof: %w", err)
	}
	return &p, nil
}

// KeyFingerprint is the hex SHA-256 of a DER public key.
func KeyFingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// InclusionPath computes the RFC 6962 audit path of leaf index in the tree over leaves.
func InclusionPath(leaves []Hash, index uint64) ([]Hash, error) {
	if index >= uint64(len(leaves)) {
		return nil, fmt.Errorf("leaf %d is not in a tree of size %d", index, len(leaves))
	}
	var path []Hash
	var walk func(lo, hi, i uint64)
	walk = func(lo, hi, i uint64) { // PATH(m, D[lo:hi]) of RFC 6962 §2.1.1, appended bottom-up.
		if hi-lo <= 1 {
			return
		}
		k := largestPow2Below(hi - lo)
		if i < lo+k {
			walk(lo, lo+k, i)
			path = append(path, subtreeRoot(leaves[lo+k:hi]))
		} else {
			walk(lo+k, hi, i)
			path = append(path, subtreeRoot(leaves[lo:lo+k]))
		}
	}
	walk(0, uint64(len(leaves)), index)
	return path, nil
}

// largestPow2Below is the largest power of two strictly less than n (n > 1).
func largestPow2Below(n uint64) uint64 {
	k := uint64(1)
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// subtreeRoot is the RFC 6962 Merkle tree hash of leaves.
func subtreeRoot(leaves []Hash) Hash {
	_, root, _ := Extend(nil, leaves)
	return root
}

// Verify checks the proof offline against pinnedKey (a DER public key; nil trusts the embedded key,
// which only proves consistency, not origin). It returns nil only when every step of the documented
// procedure holds.
func (p *InclusionProof) Verify(pinnedKey []byte) error {
	if p.Version != ProofVersion {
		return fmt.Errorf("unknown proof version %d", p.Version)
	}
	if p.Checkpoint == nil {
		return errors.New("proof has no checkpoint")
	}
	if pinnedKey != nil && !bytes.Equal(pinnedKey, p.PublicKey) {
		return errors.New("proof was signed with a key other than the pinned ledger key")
	}
	if p.PublicKeySHA256 != KeyFingerprint(p.PublicKey) {
		return errors.New("publicKeySha256 does not match publicKey")
	}
	if p.Entry.Seq != p.LeafIndex || p.Entry.Event.ID != p.EntryID {
		return errors.New("entry does not match leafIndex/entryId")
	}
	if got := EntryHash(p.Entry.Seq, p.Entry.PrevHash, p.Entry.Event); got != p.LeafHash {
		return fmt.Errorf("leaf hash %s does not match the entry, which hashes to %s", p.LeafHash, got)
	}
	if p.TreeSize != p.Checkpoint.TreeSize {
		return fmt.Errorf("proof tree size %d differs from the checkpoint's %d", p.TreeSize, p.Checkpoint.TreeSize)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, p.LeafHash[:], toBytes(p.AuditPath), p.Checkpoint.RootHash[:]); err != nil {
		return fmt.Errorf("inclusion proof does not lead to the checkpoint root: %w", err)
	}
	pub, err := ParsePublicKey(p.PublicKey)
	if err != nil {
		return err
	}
	if err := p.Checkpoint.VerifySignature(pub); err != nil {
		return fmt.Errorf("checkpoint %d: %w", p.Checkpoint.Number, err)
	}
	return nil
}
