package ledger

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// verificationTag is the domain tag of a verification record's encoding: a signature over a
// record can never be taken for one over a checkpoint.
const verificationTag = "caro.ledger.verification.v1"

// verificationPrefix is where verification records live in the checkpoint bucket, one per
// checkpoint proven: under the writer's checkpoints/ prefix (its grants and the readers' cover
// it), after every checkpoint key in listing order ("checkpoints/0..." < "checkpoints/verified/").
const verificationPrefix = checkpointPrefix + "verified/"

// VerificationKey is the bucket key of the verification record that proved checkpoint n.
func VerificationKey(n uint64) string { return fmt.Sprintf("%s%020d.json", verificationPrefix, n) }

// VerificationRecord is the signed statement of a verification that proved the ledger up to a
// checkpoint: every checkpoint up to it verified (signature, chain, Merkle tree, Object Lock) and
// every entry it anchors matched its leaf hash and chain when the record was written. The next
// verification starts from it (incremental): it proves the newer checkpoints consistent with the
// recorded tree head (RFC 9162 consistency proof, kept here for anyone to check with any RFC 6962
// library) and checks only the entries added since.
type VerificationRecord struct {
	Version int `json:"version"`
	// Checkpoint is the number of the newest checkpoint proven; TreeSize and RootHash its tree head,
	// CheckpointDigest its Digest (the record names exactly that signed checkpoint).
	Checkpoint       uint64 `json:"checkpoint"`
	TreeSize         uint64 `json:"treeSize"`
	RootHash         Hash   `json:"rootHash"`
	CheckpointDigest Hash   `json:"checkpointDigest"`
	// FromTreeSize and FromRootHash are the tree head the verification started from (the previous
	// record's; 0 and the empty tree's root for a verification from entry 0); ConsistencyProof
	// proves the proven tree extends it.
	FromTreeSize     uint64 `json:"fromTreeSize"`
	FromRootHash     Hash   `json:"fromRootHash"`
	ConsistencyProof []Hash `json:"consistencyProof"`
	// EntriesVerified is how many entries this verification checked (from FromTreeSize on).
	EntriesVerified uint64 `json:"entriesVerified"`
	// Full says it checked every entry from entry 0 (not from an earlier record).
	Full bool `json:"full"`
	// Time is when it was recorded; KeyID and Algorithm name the signing key (the writer's).
	Time      time.Time `json:"time"`
	KeyID     string    `json:"keyId"`
	Algorithm string    `json:"algorithm"`
	Signature []byte    `json:"signature"`
}

// Encode is the canonical encoding that is signed (length-prefixed fields, as entries' and
// checkpoints').
func (r *VerificationRecord) Encode() []byte {
	e := &encoder{}
	e.str(verificationTag)
	e.u64(r.Checkpoint)
	e.u64(r.TreeSize)
	e.bytes(r.RootHash[:])
	e.bytes(r.CheckpointDigest[:])
	e.u64(r.FromTreeSize)
	e.bytes(r.FromRootHash[:])
	e.bytes(concat(r.ConsistencyProof))
	e.u64(r.EntriesVerified)
	full := uint64(0)
	if r.Full {
		full = 1
	}
	e.u64(full)
	e.i64(canonicalTime(r.Time).UnixMilli())
	e.str(r.KeyID)
	e.str(r.Algorithm)
	return e.buf
}

// Digest is the SHA-256 of the encoding: what is signed.
func (r *VerificationRecord) Digest() Hash { return sha256.Sum256(r.Encode()) }

// Sign sets r's key, algorithm and signature with s.
func (r *VerificationRecord) Sign(ctx context.Context, s Signer) error {
	r.KeyID, r.Algorithm = s.KeyID(), s.Algorithm()
	d := r.Digest()
	sig, err := s.SignDigest(ctx, d[:])
	if err != nil {
		return fmt.Errorf("signing the verification record of checkpoint %d: %w", r.Checkpoint, err)
	}
	r.Signature = sig
	return nil
}

// Check verifies the record's signature with pub and that its consistency proof holds.
func (r *VerificationRecord) Check(pub crypto.PublicKey) error {
	if r.Version != 1 {
		return fmt.Errorf("unknown verification record version %d", r.Version)
	}
	if err := verifyDigest(pub, r.Algorithm, r.Digest(), r.Signature); err != nil {
		return err
	}
	if r.FromTreeSize > 0 {
		if err := VerifyConsistency(r.FromTreeSize, r.TreeSize, r.ConsistencyProof, r.FromRootHash, r.RootHash); err != nil {
			return fmt.Errorf("its consistency proof does not hold: %w", err)
		}
	}
	return nil
}

// VerificationStore reads the verification records (CheckpointBucket, MergedCheckpoints).
type VerificationStore interface {
	// LatestVerification returns the record of the highest checkpoint number, nil when none.
	LatestVerification(ctx context.Context) (*VerificationRecord, error)
}

// VerificationPublisher writes verification records (CheckpointBucket).
type VerificationPublisher interface {
	// PublishVerification stores r under VerificationKey(r.Checkpoint) with Object Lock
	// COMPLIANCE until retainUntil; a record already there for that checkpoint is kept.
	PublishVerification(ctx context.Context, r *VerificationRecord, retainUntil time.Time) error
}

// ParseVerificationRecord reads a record's JSON strictly (decodeStrictJSON).
func ParseVerificationRecord(raw []byte) (*VerificationRecord, error) {
	var r VerificationRecord
	if err := decodeStrictJSON(raw, &r); err != nil {
		return nil, fmt.Errorf("not a verification record: %w", err)
	}
	return &r, nil
}

// PublishVerification implements VerificationPublisher (If-None-Match, as Publish).
func (b *CheckpointBucket) PublishVerification(ctx context.Context, r *VerificationRecord, retainUntil time.Time) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := VerificationKey(r.Checkpoint)
	_, err = b.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.Name), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(retainUntil.UTC()),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, IfNoneMatch: aws.String("*"),
	})
	var ae smithy.APIError
	if err != nil && errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return nil // an earlier verification proved the same checkpoint
	}
	if err != nil {
		return fmt.Errorf("writing %s to bucket %s: %w", key, b.Name, err)
	}
	return nil
}

// LatestVerification implements VerificationStore: the listing starts after every checkpoint key
// (KeyMarker), so it reads only the records, and the object of the highest number is read.
func (b *CheckpointBucket) LatestVerification(ctx context.Context) (*VerificationRecord, error) {
	var last string
	err := b.listVersions(ctx, &s3.ListObjectVersionsInput{Prefix: aws.String(checkpointPrefix), KeyMarker: aws.String(verificationPrefix)},
		func(k string, deleteMarker bool) bool {
			if !deleteMarker && strings.HasPrefix(k, verificationPrefix) && k > last {
				last = k
			}
			return false
		})
	if err != nil {
		return nil, err
	}
	if last == "" {
		return nil, nil
	}
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(last)})
	if err != nil {
		return nil, fmt.Errorf("reading %s from bucket %s: %w", last, b.Name, err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	r, err := ParseVerificationRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%s in bucket %s: %w", last, b.Name, err)
	}
	if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(last, verificationPrefix), ".json"), 10, 64); err != nil || n != r.Checkpoint {
		return nil, fmt.Errorf("%s in bucket %s holds the record of checkpoint %d", last, b.Name, r.Checkpoint)
	}
	return r, nil
}

// LatestVerification implements VerificationStore: the record of the highest checkpoint among the
// sources (after a failover, the other region's writer may have proven a later one).
func (m *MergedCheckpoints) LatestVerification(ctx context.Context) (*VerificationRecord, error) {
	var best *VerificationRecord
	for _, s := range m.Sources {
		vs, ok := s.Checkpoints.(VerificationStore)
		if !ok {
			continue
		}
		r, err := vs.LatestVerification(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		if r != nil && (best == nil || r.Checkpoint > best.Checkpoint) {
			best = r
		}
	}
	return best, nil
}

// CheckpointRangeReader is optionally implemented by a CheckpointReader that lists the
// checkpoints from a number on without reading the earlier ones (an incremental verification).
type CheckpointRangeReader interface {
	ListCheckpointsFrom(ctx context.Context, from uint64) ([]StoredCheckpoint, error)
}

// ListCheckpointsFrom implements CheckpointRangeReader.
func (b *CheckpointBucket) ListCheckpointsFrom(ctx context.Context, from uint64) ([]StoredCheckpoint, error) {
	return b.listCheckpoints(ctx, from)
}

// ListCheckpointsFrom implements CheckpointRangeReader: each source from that number on, merged.
func (m *MergedCheckpoints) ListCheckpointsFrom(ctx context.Context, from uint64) ([]StoredCheckpoint, error) {
	return m.list(ctx, func(s CheckpointSource) ([]StoredCheckpoint, error) {
		if rr, ok := s.Checkpoints.(CheckpointRangeReader); ok {
			return rr.ListCheckpointsFrom(ctx, from)
		}
		all, err := s.Checkpoints.ListCheckpoints(ctx)
		if err != nil {
			return nil, err
		}
		i := sort.Search(len(all), func(i int) bool { return all[i].Key >= CheckpointKey(from) })
		return all[i:], nil
	})
}
