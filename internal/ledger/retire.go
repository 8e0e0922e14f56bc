package ledger

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Retirement is the one deletion of ledger data (besides the restore's hold): once a sealed
// segment's retention has ended, its checkpoint objects and verification records are deleted from
// the bucket (every version: their Object Lock has ended) and its entries and checkpoint records
// from the database. Verification starts from the seal whether or not this ran (see segment.go),
// so a retirement interrupted half-way leaves nothing a verification refuses; running it again
// finishes it. Seals themselves are kept: the newest retired seal is where verification starts
// (the bucket's lifecycle removes a seal a year after its own lock, when a newer segment is
// retired).

// S3Deleter is the part of the S3 client that deletes object versions (retirement only).
type S3Deleter interface {
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// RetireOptions configure Retire.
type RetireOptions struct {
	// Store is the database's ledger (entries and checkpoint records).
	Store *MongoStore
	// Bucket is the writer's checkpoint bucket (its Client must implement S3Deleter).
	Bucket *CheckpointBucket
	// PublicKey or PublicKeys verify the seals before anything is deleted (as the Verifier's).
	PublicKey  crypto.PublicKey
	PublicKeys KeyRing
	// RetentionYears is the ledger's retention (default DefaultRetentionYears).
	RetentionYears int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// RetireReport is what Retire removed.
type RetireReport struct {
	// Segments are the segments retired now (a segment retired before is not listed again).
	Segments []int `json:"segments"`
	// Base is the final checkpoint of the newest retired segment: verification starts there.
	Base *uint64 `json:"base,omitempty"`
	// Objects, Entries and Records are what was deleted from the bucket and the database.
	Objects int   `json:"objects"`
	Entries int64 `json:"entries"`
	Records int64 `json:"records"`
	// Deferred are verification records of retired checkpoints still under their own lock (written
	// after the checkpoint): a later run deletes them; verification ignores them.
	Deferred int `json:"deferred,omitempty"`
	// Partial says the run stopped before its deadline: the next run continues.
	Partial bool `json:"partial,omitempty"`
}

// Retire deletes every sealed segment whose Object Lock has ended: each seal's signature is
// checked first, then the segment's objects are deleted from the bucket and its entries and
// checkpoint records from the database. Segments are retired oldest first; it stops at the first
// whose locks have not all ended, and a minute before ctx's deadline (Partial).
func Retire(ctx context.Context, o RetireOptions) (RetireReport, error) {
	var rep RetireReport
	if o.Store == nil || o.Bucket == nil {
		return rep, errors.New("ledger: Retire needs the store and the bucket")
	}
	del, ok := o.Bucket.Client.(S3Deleter)
	if !ok {
		return rep, errors.New("ledger: Retire needs an S3 client that deletes object versions")
	}
	years := o.RetentionYears
	if years <= 0 {
		years = DefaultRetentionYears
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var stop time.Time
	if d, ok := ctx.Deadline(); ok {
		stop = d.Add(-time.Minute)
	}
	seals, err := o.Bucket.ListSeals(ctx)
	if err != nil {
		return rep, err
	}
	for _, s := range seals {
		// Every checkpoint of the segment was locked at most until the final's lock ends.
		if now().Before(RetainUntil(s.Final.Time, years)) {
			break
		}
		sealKey, err := checkpointKey(o.PublicKeys, o.PublicKey, &Checkpoint{KeyID: s.KeyID})
		if err != nil {
			return rep, fmt.Errorf("seal of segment %d: %w", s.Segment, err)
		}
		finalKey, err := checkpointKey(o.PublicKeys, o.PublicKey, &s.Final)
		if err != nil {
			return rep, fmt.Errorf("seal of segment %d: %w", s.Segment, err)
		}
		if err := s.Check(sealKey, finalKey); err != nil {
			return rep, fmt.Errorf("seal of segment %d does not verify, nothing of it is deleted: %w", s.Segment, err)
		}
		n, deferred, partial, err := o.deleteObjects(ctx, del, s.Final.Number, now(), stop)
		rep.Objects, rep.Deferred = rep.Objects+n, rep.Deferred+deferred
		if err != nil {
			return rep, fmt.Errorf("retiring segment %d: %w", s.Segment, err)
		}
		if partial {
			// Out of time: the database keeps the segment's entries until its objects are gone.
			rep.Partial = true
			return rep, nil
		}
		res, err := o.Store.entries.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: EntryDocID(s.Final.TreeSize)}}}})
		if err != nil {
			return rep, fmt.Errorf("retiring segment %d: deleting its entries: %w", s.Segment, err)
		}
		rep.Entries += res.DeletedCount
		res, err = o.Store.checkpoints.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$lte", Value: EntryDocID(s.Final.Number)}}}})
		if err != nil {
			return rep, fmt.Errorf("retiring segment %d: deleting its checkpoint records: %w", s.Segment, err)
		}
		rep.Records += res.DeletedCount
		if n > 0 || rep.Entries > 0 || res.DeletedCount > 0 {
			rep.Segments = append(rep.Segments, s.Segment)
		}
		base := s.Final.Number
		rep.Base = &base
	}
	return rep, nil
}

// deleteObjects deletes every version of the checkpoint objects numbered up to final (their locks
// have ended: none outlives the final checkpoint's), and of the verification records of those
// checkpoints whose own lock has ended (a record is written after its checkpoint; one still
// locked is left for a later run or the bucket's lifecycle: verification ignores it). It stops
// at stop (partial: the next run continues).
func (o RetireOptions) deleteObjects(ctx context.Context, del S3Deleter, final uint64, now time.Time, stop time.Time) (deleted, deferred int, partial bool, err error) {
	type version struct{ key, id string }
	var doomed []version
	err = o.Bucket.listVersionIDs(ctx, func(key, id string) {
		if n, ok := retiredNumber(key); ok && n <= final {
			doomed = append(doomed, version{key, id})
		}
	})
	if err != nil {
		return 0, 0, false, err
	}
	for _, v := range doomed {
		if !stop.IsZero() && time.Now().After(stop) {
			return deleted, deferred, true, nil
		}
		if strings.HasPrefix(v.key, verificationPrefix) {
			r, err := o.Bucket.Retention(ctx, v.key)
			if err == nil && r.RetainUntil.After(now) {
				deferred++
				continue
			}
		}
		in := &s3.DeleteObjectInput{Bucket: aws.String(o.Bucket.Name), Key: aws.String(v.key)}
		if v.id != "" {
			in.VersionId = aws.String(v.id)
		}
		if _, err := del.DeleteObject(ctx, in); err != nil {
			return deleted, deferred, false, fmt.Errorf("deleting %s: %w", v.key, err)
		}
		deleted++
	}
	return deleted, deferred, false, nil
}

// retiredNumber is the checkpoint number of a checkpoint object's or verification record's key.
func retiredNumber(key string) (uint64, bool) {
	rest := strings.TrimPrefix(key, checkpointPrefix)
	rest = strings.TrimPrefix(rest, "verified/")
	if strings.Contains(rest, "/") || !strings.HasSuffix(rest, ".json") {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(rest, ".json"), 10, 64)
	return n, err == nil
}

// listVersionIDs calls fn with the key and version ID of every version and delete marker under
// checkpoints/.
func (b *CheckpointBucket) listVersionIDs(ctx context.Context, fn func(key, id string)) error {
	return b.listVersionsWithIDs(ctx, &s3.ListObjectVersionsInput{Prefix: aws.String(checkpointPrefix)}, func(key, id string, _ bool) bool {
		fn(key, id)
		return false
	})
}
