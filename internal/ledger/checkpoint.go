package ledger

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Signing algorithms a checkpoint may name (the AWS KMS names).
const (
	AlgECDSASHA256  = "ECDSA_SHA_256"
	AlgRSAPSSSHA256 = "RSASSA_PSS_SHA_256"
)

// CheckpointVersion is the encoding version of checkpoints this package writes: 2, a C2SP signed
// note (see NoteText). Version 1 checkpoints, written before, still verify and chain into it.
const CheckpointVersion = 2

// DefaultOrigin is the origin line of the checkpoints' signed notes (c2sp.org/tlog-checkpoint):
// the log's identity, the same in every region (the log continues across a failover; the key
// that signs it changes, and is named in KeyID and by the note's key hash).
const DefaultOrigin = "caro.health/audit-ledger"

// Checkpoint is a signed Merkle tree head over entries 0..TreeSize-1, chained to the checkpoint
// before it. It is what lives outside the database, in the Object Lock bucket.
type Checkpoint struct {
	Version int `json:"version"`
	// Number counts checkpoints from 0; the S3 key is derived from it.
	Number uint64 `json:"number"`
	// FirstSeq is the first entry not covered by the previous checkpoint (its TreeSize).
	FirstSeq uint64 `json:"firstSeq"`
	// TreeSize is the number of entries covered: 0..TreeSize-1.
	TreeSize uint64 `json:"treeSize"`
	// RootHash is the RFC 6962 Merkle tree head over the hashes of entries 0..TreeSize-1.
	RootHash Hash `json:"rootHash"`
	// PrevCheckpointHash is the Digest of checkpoint Number-1 (zero for checkpoint 0).
	PrevCheckpointHash Hash `json:"prevCheckpointHash"`
	// Time is when the checkpoint was cut (UTC, milliseconds).
	Time time.Time `json:"time"`
	// KeyID names the signing key (the KMS key ARN).
	KeyID string `json:"keyId"`
	// Algorithm is the signing algorithm.
	Algorithm string `json:"algorithm"`
	// LeafHashes are the hashes of entries FirstSeq..TreeSize-1, in order.
	LeafHashes []Hash `json:"leafHashes"`
	// CompactRange is the compact Merkle range of [0, TreeSize): the roots of the perfect subtrees,
	// left to right. Verification can resume from it without reading earlier entries.
	CompactRange []Hash `json:"compactRange"`
	// Signature is the signature over Digest by KeyID.
	Signature []byte `json:"signature"`
	// Origin (version 2) is the log's identity, the first line of the signed note.
	Origin string `json:"origin,omitempty"`
	// Note (version 2) is the checkpoint as a C2SP signed note: NoteText, a blank line and the
	// signature line "— <origin> <base64(key hash || Signature)>", so tlog tooling and witnesses
	// read it as it is. It follows from the fields above; verification checks it does.
	Note string `json:"note,omitempty"`
	// Entries are the entries FirstSeq..TreeSize-1 themselves, as stored, so the ledger can be
	// recovered from the bucket after a database restore (Recover). They are outside the signed
	// encoding: each is authenticated by its leaf hash in LeafHashes, which is signed. Absent in
	// checkpoints written before entries were carried, and in the database's checkpoint records.
	Entries []Entry `json:"entries,omitempty"`
}

// CheckEntries checks the entries c carries against its signed leaf hashes: one per leaf, in
// sequence, each with a hash that its contents recompute to and that equals the signed leaf hash,
// each linking to the one before (the first to prevHash, the hash of entry FirstSeq-1, zero for
// entry 0). A checkpoint without entries (the older format) passes; check len(c.Entries).
func (c *Checkpoint) CheckEntries(prevHash Hash) error {
	if len(c.Entries) == 0 {
		return nil
	}
	if len(c.Entries) != len(c.LeafHashes) {
		return fmt.Errorf("checkpoint %d carries %d entries for %d leaf hashes", c.Number, len(c.Entries), len(c.LeafHashes))
	}
	for i, e := range c.Entries {
		seq := c.FirstSeq + uint64(i)
		switch {
		case e.Seq != seq:
			return fmt.Errorf("checkpoint %d carries entry %d where entry %d belongs", c.Number, e.Seq, seq)
		case e.EventID != e.Event.ID:
			return fmt.Errorf("checkpoint %d: entry %d has eventId %q but its event's id is %q", c.Number, seq, e.EventID, e.Event.ID)
		case e.Recompute() != e.Hash:
			return fmt.Errorf("checkpoint %d: the contents of entry %d do not match its hash", c.Number, seq)
		case e.Hash != c.LeafHashes[i]:
			return fmt.Errorf("checkpoint %d: entry %d's hash differs from the signed leaf hash", c.Number, seq)
		case e.PrevHash != prevHash:
			return fmt.Errorf("checkpoint %d: entry %d does not link to the entry before it", c.Number, seq)
		}
		prevHash = e.Hash
	}
	return nil
}

// withoutEntries returns a shallow copy of c that carries no entries (the database record).
func (c *Checkpoint) withoutEntries() *Checkpoint {
	cp := *c
	cp.Entries = nil
	return &cp
}

// Encode returns the canonical encoding of the checkpoint's fields (see the package doc): what is
// signed in version 1, and what the signed note's extension line hashes in version 2.
func (c *Checkpoint) Encode() []byte {
	e := &encoder{}
	if c.Version >= 2 {
		e.str(checkpointTagV2)
		e.str(c.Origin)
	} else {
		e.str(checkpointTag)
	}
	e.u64(c.Number)
	e.u64(c.FirstSeq)
	e.u64(c.TreeSize)
	e.bytes(c.RootHash[:])
	e.bytes(c.PrevCheckpointHash[:])
	e.i64(canonicalTime(c.Time).UnixMilli())
	e.str(c.KeyID)
	e.str(c.Algorithm)
	e.bytes(concat(c.LeafHashes))
	e.bytes(concat(c.CompactRange))
	return e.buf
}

func concat(hs []Hash) []byte {
	var out []byte
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}

// Digest is what is signed and the link the next checkpoint carries: the SHA-256 of NoteText in
// version 2, of Encode in version 1.
func (c *Checkpoint) Digest() Hash {
	if c.Version >= 2 {
		return sha256.Sum256([]byte(c.NoteText()))
	}
	return sha256.Sum256(c.Encode())
}

// NoteText is the text of the version 2 checkpoint's signed note, a C2SP tlog-checkpoint: the
// origin, the tree size in decimal, the base64 RFC 6962 root hash, and one extension line naming
// this encoding and the base64 SHA-256 of Encode, so the one signature over the text also covers
// the fields only Caro reads (number, chain link, leaf hashes, compact range, time, key).
func (c *Checkpoint) NoteText() string {
	ext := sha256.Sum256(c.Encode())
	return fmt.Sprintf("%s\n%d\n%s\n%s %s\n", c.Origin, c.TreeSize, base64.StdEncoding.EncodeToString(c.RootHash[:]),
		checkpointTagV2, base64.StdEncoding.EncodeToString(ext[:]))
}

// NoteKeyHash is the C2SP signed-note key ID of an ECDSA key (signature type 0x02, as
// github.com/transparency-dev/witness implements it): the first 4 bytes of SHA-256 of the DER
// SubjectPublicKeyInfo.
func NoteKeyHash(der []byte) [4]byte {
	s := sha256.Sum256(der)
	return [4]byte{s[0], s[1], s[2], s[3]}
}

// signedNote is the version 2 note with the signature line for the key whose DER is der.
func (c *Checkpoint) signedNote(der []byte) string {
	kh := NoteKeyHash(der)
	return c.NoteText() + "\n\u2014 " + c.Origin + " " + base64.StdEncoding.EncodeToString(append(kh[:], c.Signature...)) + "\n"
}

// ObjectKey is where the checkpoint lives in the bucket; zero-padded so keys list in order.
func (c *Checkpoint) ObjectKey() string { return CheckpointKey(c.Number) }

// CheckpointKey is the bucket key of checkpoint number n.
func CheckpointKey(n uint64) string { return fmt.Sprintf("checkpoints/%020d.json", n) }

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func toBytes(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}

func toHashes(bs [][]byte) []Hash {
	out := make([]Hash, len(bs))
	for i := range bs {
		copy(out[i][:], bs[i])
	}
	return out
}

// Extend computes the compact range and root after appending leaves to the tree of prev (nil = the
// empty tree). It checks nothing about prev; Verify does.
func Extend(prev *Checkpoint, leaves []Hash) (rng []Hash, root Hash, err error) {
	var r *compact.Range
	if prev == nil {
		r = rangeFactory.NewEmptyRange(0)
	} else if r, err = rangeFactory.NewRange(0, prev.TreeSize, toBytes(prev.CompactRange)); err != nil {
		return nil, root, fmt.Errorf("checkpoint %d has a malformed compact range: %w", prev.Number, err)
	}
	for _, l := range leaves {
		if err := r.Append(append([]byte(nil), l[:]...), nil); err != nil {
			return nil, root, err
		}
	}
	if r.End() == 0 {
		copy(root[:], rfc6962.DefaultHasher.EmptyRoot())
		return nil, root, nil
	}
	b, err := r.GetRootHash(nil)
	if err != nil {
		return nil, root, err
	}
	copy(root[:], b)
	return toHashes(r.Hashes()), root, nil
}

// NextCheckpoint builds (unsigned) the checkpoint after prev (nil for the first) that covers leaves,
// the hashes of entries prev.TreeSize onwards.
func NextCheckpoint(prev *Checkpoint, leaves []Hash, now time.Time, keyID, alg string) (*Checkpoint, error) {
	if len(leaves) == 0 {
		return nil, errors.New("a checkpoint needs at least one new entry")
	}
	rng, root, err := Extend(prev, leaves)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Version: CheckpointVersion, Origin: DefaultOrigin, TreeSize: uint64(len(leaves)), RootHash: root, Time: canonicalTime(now),
		KeyID: keyID, Algorithm: alg, LeafHashes: append([]Hash(nil), leaves...), CompactRange: rng}
	if prev != nil {
		c.Number, c.FirstSeq, c.TreeSize = prev.Number+1, prev.TreeSize, prev.TreeSize+uint64(len(leaves))
		c.PrevCheckpointHash = prev.Digest()
	}
	return c, nil
}

// Signer signs checkpoint digests; KMSSigner in production, KeySigner in tests and benchmarks.
type Signer interface {
	// KeyID names the key, recorded in the checkpoint.
	KeyID() string
	// Algorithm is the signing algorithm name (AlgECDSASHA256 or AlgRSAPSSSHA256).
	Algorithm() string
	// SignDigest signs a SHA-256 digest.
	SignDigest(ctx context.Context, digest []byte) ([]byte, error)
	// PublicKey returns the DER SubjectPublicKeyInfo of the key, for offline verification.
	PublicKey(ctx context.Context) ([]byte, error)
}

// Sign sets c.Signature with s.
func (c *Checkpoint) Sign(ctx context.Context, s Signer) error {
	if c.KeyID != s.KeyID() || c.Algorithm != s.Algorithm() {
		return fmt.Errorf("checkpoint %d names key %q/%s but the signer is %q/%s", c.Number, c.KeyID, c.Algorithm, s.KeyID(), s.Algorithm())
	}
	d := c.Digest()
	sig, err := s.SignDigest(ctx, d[:])
	if err != nil {
		return fmt.Errorf("signing checkpoint %d: %w", c.Number, err)
	}
	c.Signature = sig
	if c.Version >= 2 {
		der, err := s.PublicKey(ctx)
		if err != nil {
			return fmt.Errorf("signing checkpoint %d: %w", c.Number, err)
		}
		c.Note = c.signedNote(der)
	}
	return nil
}

// ParsePublicKey reads a DER SubjectPublicKeyInfo (what KMS GetPublicKey returns).
func ParsePublicKey(der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger public key: %w", err)
	}
	return pub, nil
}

// VerifySignature checks c.Signature over c.Digest with pub, offline, and for version 2 that
// c.Note is the signed note of those fields and that signature.
func (c *Checkpoint) VerifySignature(pub crypto.PublicKey) error {
	if err := c.verifyDigestSignature(pub); err != nil {
		return err
	}
	if c.Version >= 2 {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return fmt.Errorf("reading the public key: %w", err)
		}
		if c.Note != c.signedNote(der) {
			return errors.New("the signed note does not match the checkpoint's fields and signature")
		}
	}
	return nil
}

func (c *Checkpoint) verifyDigestSignature(pub crypto.PublicKey) error {
	d := c.Digest()
	return verifyDigest(pub, c.Algorithm, d, c.Signature)
}

// verifyDigest checks sig over digest d with pub under the algorithm alg names.
func verifyDigest(pub crypto.PublicKey, alg string, d Hash, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != AlgECDSASHA256 {
			return fmt.Errorf("algorithm %q does not match the ECDSA public key", alg)
		}
		if !ecdsa.VerifyASN1(k, d[:], sig) {
			return errors.New("signature does not verify with the ledger public key")
		}
	case *rsa.PublicKey:
		if alg != AlgRSAPSSSHA256 {
			return fmt.Errorf("algorithm %q does not match the RSA public key", alg)
		}
		if err := rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
			return errors.New("signature does not verify with the ledger public key")
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// Check verifies everything about c that needs no database: version, its link and position after
// prev (nil when c is checkpoint 0), that its compact range and root follow from prev's range plus
// its leaf hashes, and its signature.
func (c *Checkpoint) Check(prev *Checkpoint, pub crypto.PublicKey) error {
	switch {
	case c.Version != 1 && c.Version != CheckpointVersion:
		return fmt.Errorf("unknown checkpoint version %d", c.Version)
	case c.Version == 1 && (c.Origin != "" || c.Note != ""):
		return errors.New("a version 1 checkpoint carries version 2 fields")
	case c.Version >= 2 && (c.Origin == "" || strings.ContainsAny(c.Origin, " +\n")):
		return fmt.Errorf("origin %q is not a signed-note key name", c.Origin)
	}
	var wantNum, wantFirst uint64
	var wantLink Hash
	if prev != nil {
		wantNum, wantFirst, wantLink = prev.Number+1, prev.TreeSize, prev.Digest()
	}
	switch {
	case c.Number != wantNum:
		return fmt.Errorf("checkpoint number %d where %d was expected (a checkpoint is missing or out of order)", c.Number, wantNum)
	case c.FirstSeq != wantFirst:
		return fmt.Errorf("firstSeq %d but the previous checkpoint ends at tree size %d", c.FirstSeq, wantFirst)
	case c.PrevCheckpointHash != wantLink:
		return errors.New("prevCheckpointHash does not match the previous checkpoint (chain of checkpoints broken)")
	case len(c.LeafHashes) == 0 || c.TreeSize != c.FirstSeq+uint64(len(c.LeafHashes)):
		return fmt.Errorf("tree size %d does not equal firstSeq %d plus %d leaf hashes", c.TreeSize, c.FirstSeq, len(c.LeafHashes))
	}
	rng, root, err := Extend(prev, c.LeafHashes)
	if err != nil {
		return err
	}
	if root != c.RootHash {
		return errors.New("root hash does not match the Merkle tree of its leaf hashes")
	}
	if !equalHashes(rng, c.CompactRange) {
		return errors.New("compact range does not match the Merkle tree of its leaf hashes")
	}
	return c.VerifySignature(pub)
}

func equalHashes(a, b []Hash) bool {
	return len(a) == len(b) && bytes.Equal(concat(a), concat(b))
}

// KeySigner signs with an in-process ECDSA P-256 key. For tests, benchmarks and local drills only:
// production checkpoints are signed in KMS (KMSSigner), whose private key never leaves the HSM.
type KeySigner struct {
	Key *ecdsa.PrivateKey
	ID  string
}

// KeyID implements Signer.
func (s *KeySigner) KeyID() string { return s.ID }

// Algorithm implements Signer.
func (s *KeySigner) Algorithm() string { return AlgECDSASHA256 }

// SignDigest implements Signer.
func (s *KeySigner) SignDigest(_ context.Context, digest []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, s.Key, digest)
}

// PublicKey implements Signer.
func (s *KeySigner) PublicKey(context.Context) ([]byte, error) {
	return x509.MarshalPKIXPublicKey(&s.Key.PublicKey)
}
