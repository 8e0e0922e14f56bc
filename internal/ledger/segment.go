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
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Segments. The ledger is sealed into yearly segments so that its retention can end: an
// append-only hash chain cannot drop its oldest entries in place, but it can drop a whole
// segment at once once every lock of that segment has ended, and verification then starts from
// the segment's final checkpoint.
//
// A segment is the checkpoints cut in one UTC calendar year (by the checkpoint's Time), and the
// entries they anchor. When the year is over, the writer seals it (Sealer): a Seal, signed by the
// writer's key and stored under Object Lock at checkpoints/seals/<year>.json, names the segment's
// first checkpoint and carries its final checkpoint (the signed fields, without entries). The
// next segment's first checkpoint links to that final checkpoint's digest like any checkpoint to
// its predecessor.
//
// A segment is retired once its retention has ended: its final checkpoint was cut more than the
// retention (RetentionYears) ago, so every checkpoint of it and of the segments before it is past
// its lock. From then on a verification starts from the newest retired segment's seal: its final
// checkpoint is the base (checked by its signature and compact range, as an incremental
// verification's start), the checkpoints up to it and the entries it anchors are not read, and
// the next checkpoint must chain from it. Whether the retired checkpoints and entries are still
// stored does not matter (Retire deletes them; the bucket's lifecycle removes what is left a year
// later). A segment that is missing while its retention runs, in the middle or at the start, is a
// gap in the chain from the base: a finding, as any missing checkpoint or entry.

// sealTag is the domain tag of a seal's encoding.
const sealTag = "caro.ledger.seal.v1"

// sealPrefix is where seals live in the checkpoint bucket: under checkpoints/ (the writer's grants
// cover it), after every checkpoint key in listing order ("checkpoints/0..." < "checkpoints/seals/").
const sealPrefix = checkpointPrefix + "seals/"

// SealKey is the bucket key of segment (year) y's seal.
func SealKey(y int) string { return fmt.Sprintf("%s%04d.json", sealPrefix, y) }

// Seal closes a yearly segment.
type Seal struct {
	Version int `json:"version"`
	// Segment is the UTC year whose checkpoints the segment holds.
	Segment int `json:"segment"`
	// FirstCheckpoint is the segment's first checkpoint number (the previous seal's final + 1).
	FirstCheckpoint uint64 `json:"firstCheckpoint"`
	// Final is the segment's final checkpoint, as signed (no entries).
	Final Checkpoint `json:"final"`
	// Time is when the segment was sealed; KeyID and Algorithm name the signing key.
	Time      time.Time `json:"time"`
	KeyID     string    `json:"keyId"`
	Algorithm string    `json:"algorithm"`
	Signature []byte    `json:"signature"`
}

// Encode is the canonical encoding that is signed: the segment, its first checkpoint and its final
// checkpoint's number, tree size and digest (which covers every field of it).
func (s *Seal) Encode() []byte {
	e := &encoder{}
	e.str(sealTag)
	e.u64(uint64(s.Segment))
	e.u64(s.FirstCheckpoint)
	e.u64(s.Final.Number)
	e.u64(s.Final.TreeSize)
	d := s.Final.Digest()
	e.bytes(d[:])
	e.i64(canonicalTime(s.Time).UnixMilli())
	e.str(s.KeyID)
	e.str(s.Algorithm)
	return e.buf
}

// Digest is the SHA-256 of the encoding: what is signed.
func (s *Seal) Digest() Hash { return sha256.Sum256(s.Encode()) }

// Sign sets the seal's key, algorithm and signature with signer.
func (s *Seal) Sign(ctx context.Context, signer Signer) error {
	s.KeyID, s.Algorithm = signer.KeyID(), signer.Algorithm()
	d := s.Digest()
	sig, err := signer.SignDigest(ctx, d[:])
	if err != nil {
		return fmt.Errorf("signing the seal of segment %d: %w", s.Segment, err)
	}
	s.Signature = sig
	return nil
}

// Check verifies the seal's signature with sealKey and its final checkpoint alone with finalKey:
// signature, Merkle root of its compact range, that it is in the segment's year and not before its
// first checkpoint.
func (s *Seal) Check(sealKey, finalKey crypto.PublicKey) error {
	if s.Version != 1 {
		return fmt.Errorf("unknown seal version %d", s.Version)
	}
	if err := verifyDigest(sealKey, s.Algorithm, s.Digest(), s.Signature); err != nil {
		return fmt.Errorf("the seal's signature does not verify: %w", err)
	}
	f := &s.Final
	if err := f.VerifySignature(finalKey); err != nil {
		return fmt.Errorf("its final checkpoint %d: %w", f.Number, err)
	}
	if len(f.LeafHashes) == 0 {
		return fmt.Errorf("its final checkpoint %d has no leaf hashes", f.Number)
	}
	r, err := rangeFactory.NewRange(0, f.TreeSize, toBytes(f.CompactRange))
	if err != nil {
		return fmt.Errorf("its final checkpoint %d has a malformed compact range: %w", f.Number, err)
	}
	if root, err := r.GetRootHash(nil); err != nil || !bytes.Equal(root, f.RootHash[:]) {
		return fmt.Errorf("its final checkpoint %d: root hash does not match its compact range", f.Number)
	}
	if f.Time.UTC().Year() != s.Segment || f.Number < s.FirstCheckpoint || len(f.Entries) > 0 {
		return fmt.Errorf("its final checkpoint %d (cut %s) is not the end of segment %d from checkpoint %d", f.Number, f.Time.UTC().Format(time.RFC3339), s.Segment, s.FirstCheckpoint)
	}
	return nil
}

// RetiredAt is when the segment's retention ends: its final checkpoint's time plus years (every
// checkpoint of the segment, and of the segments before, is older).
func (s *Seal) RetiredAt(years int) time.Time { return s.Final.Time.UTC().AddDate(years, 0, 0) }

// ParseSeal reads a seal's JSON strictly (decodeStrictJSON).
func ParseSeal(raw []byte) (*Seal, error) {
	var s Seal
	if err := decodeStrictJSON(raw, &s); err != nil {
		return nil, fmt.Errorf("not a seal: %w", err)
	}
	return &s, nil
}

// SealStore reads and writes seals (CheckpointBucket; MergedCheckpoints reads).
type SealStore interface {
	// ListSeals returns every seal, by segment; an unreadable seal is an error.
	ListSeals(ctx context.Context) ([]*Seal, error)
}

// SealPublisher writes seals (CheckpointBucket).
type SealPublisher interface {
	SealStore
	// PublishSeal stores s under SealKey(s.Segment) with Object Lock COMPLIANCE until retainUntil.
	// A seal already there naming the same final checkpoint is kept; one naming another is an error.
	PublishSeal(ctx context.Context, s *Seal, retainUntil time.Time) error
}

// PublishSeal implements SealPublisher.
func (b *CheckpointBucket) PublishSeal(ctx context.Context, s *Seal, retainUntil time.Time) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := SealKey(s.Segment)
	_, err = b.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.Name), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(retainUntil.UTC()),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, IfNoneMatch: aws.String("*"),
	})
	var ae smithy.APIError
	if err != nil && errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		existing, gerr := b.getSeal(ctx, key)
		if gerr != nil {
			return fmt.Errorf("seal %s exists but cannot be read: %w", key, gerr)
		}
		if existing.Final.Digest() != s.Final.Digest() || existing.FirstCheckpoint != s.FirstCheckpoint {
			return fmt.Errorf("seal %s already names another final checkpoint (%d, not %d): two writers disagree; run `caro audit verify`", key, existing.Final.Number, s.Final.Number)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing %s to bucket %s: %w", key, b.Name, err)
	}
	return nil
}

func (b *CheckpointBucket) getSeal(ctx context.Context, key string) (*Seal, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return ParseSeal(raw)
}

// ListSeals implements SealStore: the listing starts at the seals' prefix, so it reads none of the
// checkpoints.
func (b *CheckpointBucket) ListSeals(ctx context.Context) ([]*Seal, error) {
	var keys []string
	err := b.listVersions(ctx, &s3.ListObjectVersionsInput{Prefix: aws.String(sealPrefix)}, func(k string, deleteMarker bool) bool {
		if !deleteMarker && (len(keys) == 0 || keys[len(keys)-1] != k) {
			keys = append(keys, k)
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Seal, 0, len(keys))
	for _, k := range keys {
		s, err := b.getSeal(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("%s in bucket %s: %w", k, b.Name, err)
		}
		y, perr := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(k, sealPrefix), ".json"))
		if perr != nil || y != s.Segment || SealKey(y) != k {
			return nil, fmt.Errorf("%s in bucket %s holds the seal of segment %d", k, b.Name, s.Segment)
		}
		out = append(out, s)
	}
	return out, nil
}

// ListSeals implements SealStore: the union of the sources' seals. A segment sealed in several
// sources (a replica beside its source) must name the same final checkpoint in each.
func (m *MergedCheckpoints) ListSeals(ctx context.Context) ([]*Seal, error) {
	bySegment := map[int]*Seal{}
	for _, src := range m.Sources {
		ss, ok := src.Checkpoints.(SealStore)
		if !ok {
			continue
		}
		list, err := ss.ListSeals(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		for _, s := range list {
			if seen, ok := bySegment[s.Segment]; ok && (seen.Final.Digest() != s.Final.Digest() || seen.FirstCheckpoint != s.FirstCheckpoint) {
				return nil, fmt.Errorf("%w: segment %d is sealed at checkpoint %d in one bucket and %d in %s", ErrCheckpointConflict, s.Segment, seen.Final.Number, s.Final.Number, src.Name)
			}
			bySegment[s.Segment] = s
		}
	}
	out := make([]*Seal, 0, len(bySegment))
	for _, s := range bySegment {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Segment < out[j].Segment })
	return out, nil
}

// SealRecords are the database's checkpoint records as the Sealer reads them (MongoStore).
type SealRecords interface {
	CheckpointRecords
	// CheckpointAt returns the record of checkpoint n, nil when there is none.
	CheckpointAt(ctx context.Context, n uint64) (*Checkpoint, error)
}

// Sealer seals every yearly segment that is over: run it with the checkpointer (the audit
// writer does, after every checkpoint run). It is idempotent and safe to run concurrently (the
// seal of a segment is determined by the checkpoints; a second writer's seal of it is kept).
type Sealer struct {
	Records SealRecords
	Seals   SealPublisher
	Signer  Signer
	// RetentionYears sets the seal's Object Lock (default DefaultRetentionYears).
	RetentionYears int
	Now            func() time.Time

	// sealedBefore is the year before which every segment is known sealed (a cache: the first run
	// of a process reads the seals, later runs in the same year read nothing).
	sealedBefore int
}

// Run seals the segments of the years before now's that have checkpoints and no seal, oldest
// first, and returns the seals it wrote. It seals nothing while the ledger hold exists.
func (s *Sealer) Run(ctx context.Context) ([]*Seal, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	year := now().UTC().Year()
	if s.sealedBefore >= year {
		return nil, nil
	}
	if err := heldError(ctx, s.Records); err != nil {
		return nil, fmt.Errorf("sealing segments: %w", err)
	}
	years := s.RetentionYears
	if years <= 0 {
		years = DefaultRetentionYears
	}
	seals, err := s.Seals.ListSeals(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the seals: %w", err)
	}
	var next uint64
	if len(seals) > 0 {
		next = seals[len(seals)-1].Final.Number + 1
	}
	last, err := s.Records.LastCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the last checkpoint: %w", err)
	}
	var made []*Seal
	for last != nil && next <= last.Number {
		first, err := s.Records.CheckpointAt(ctx, next)
		if err != nil {
			return made, err
		}
		if first == nil {
			return made, fmt.Errorf("sealing: the database has no record of checkpoint %d (after the last seal): run `caro audit verify`", next)
		}
		y := first.Time.UTC().Year()
		if y >= year {
			break // the current year's segment is not over
		}
		final, err := s.lastBefore(ctx, next, last, time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			return made, err
		}
		seal := &Seal{Version: 1, Segment: y, FirstCheckpoint: next, Final: *final.withoutEntries(), Time: canonicalTime(now())}
		if err := seal.Sign(ctx, s.Signer); err != nil {
			return made, err
		}
		if err := s.Seals.PublishSeal(ctx, seal, RetainUntil(seal.Time, years)); err != nil {
			return made, err
		}
		made = append(made, seal)
		next = final.Number + 1
	}
	s.sealedBefore = year
	return made, nil
}

// lastBefore finds the last checkpoint from `from` to last cut before t (checkpoint times grow
// with their numbers): a binary search of point reads.
func (s *Sealer) lastBefore(ctx context.Context, from uint64, last *Checkpoint, t time.Time) (*Checkpoint, error) {
	if last.Time.Before(t) {
		return last, nil
	}
	lo, hi := from, last.Number // checkpoint lo is before t, hi is not
	best, err := s.Records.CheckpointAt(ctx, lo)
	if err != nil || best == nil {
		return nil, fmt.Errorf("sealing: reading checkpoint %d: %v", lo, err)
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		c, err := s.Records.CheckpointAt(ctx, mid)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("sealing: the database has no record of checkpoint %d: run `caro audit verify`", mid)
		}
		if c.Time.Before(t) {
			lo, best = mid, c
		} else {
			hi = mid
		}
	}
	return best, nil
}

// CheckpointAt implements SealRecords.
func (s *MongoStore) CheckpointAt(ctx context.Context, n uint64) (*Checkpoint, error) {
	var d checkpointDoc
	err := s.checkpoints.FindOne(ctx, bson.D{{Key: "_id", Value: EntryDocID(n)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := ParseCheckpoint([]byte(d.JSON))
	if err != nil {
		return nil, fmt.Errorf("checkpoint record %s is unreadable: %w", d.Number, err)
	}
	return c, nil
}
