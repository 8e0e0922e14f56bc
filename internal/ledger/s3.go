package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client the checkpoint bucket uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	GetObjectRetention(ctx context.Context, in *s3.GetObjectRetentionInput, optFns ...func(*s3.Options)) (*s3.GetObjectRetentionOutput, error)
}

// CheckpointBucket is the Object Lock bucket holding checkpoints. It implements CheckpointPublisher,
// CheckpointReader and RetentionInspector.
type CheckpointBucket struct {
	Client S3API
	Name   string
}

// checkpointPrefix is the key prefix of checkpoint objects.
const checkpointPrefix = "checkpoints/"

// Publish implements CheckpointPublisher. The PUT carries x-amz-object-lock-mode COMPLIANCE and the
// retain-until date, a SHA-256 checksum (S3 requires an integrity checksum with Object Lock) and
// If-None-Match: * so an existing checkpoint is never given a second version; if the key exists with
// the same checkpoint (a retry) it succeeds, with a different one it fails loudly.
func (b *CheckpointBucket) Publish(ctx context.Context, c *Checkpoint, retainUntil time.Time) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = b.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(b.Name),
		Key:                       aws.String(c.ObjectKey()),
		Body:                      bytes.NewReader(body),
		ContentType:               aws.String("application/json"),
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(retainUntil.UTC()),
		ChecksumAlgorithm:         types.ChecksumAlgorithmSha256,
		IfNoneMatch:               aws.String("*"),
	})
	var ae smithy.APIError
	if err != nil && errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		existing, gerr := b.get(ctx, c.ObjectKey())
		if gerr != nil {
			return fmt.Errorf("checkpoint %s exists but cannot be read: %w", c.ObjectKey(), gerr)
		}
		if existing.Digest() != c.Digest() || !bytes.Equal(existing.Signature, c.Signature) {
			return fmt.Errorf("checkpoint %s already holds a different checkpoint: two writers disagree; run `caro audit verify`", c.ObjectKey())
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing %s to bucket %s: %w", c.ObjectKey(), b.Name, err)
	}
	return nil
}

func (b *CheckpointBucket) get(ctx context.Context, key string) (*Checkpoint, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	return ParseCheckpoint(raw)
}

// getSigned reads a checkpoint object without its carried entries: it decodes the top-level fields
// until "entries" (the last field Publish writes) and stops reading there, so a verification
// transfers and parses the signed part only. The fields read are then parsed strictly.
func (b *CheckpointBucket) getSigned(ctx context.Context, key string) (*Checkpoint, error) {
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return parseSigned(out.Body)
}

// parseSigned reads checkpoint JSON up to its "entries" field (see getSigned).
func parseSigned(r io.Reader) (*Checkpoint, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a checkpoint: want a JSON object (%v)", err)
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a checkpoint: %w", err)
		}
		name, _ := t.(string)
		if name == "entries" {
			break
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not a checkpoint: field %q: %w", name, err)
		}
		if _, dup := fields[name]; dup {
			return nil, fmt.Errorf("not a checkpoint: field %q appears twice", name)
		}
		fields[name] = v
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return ParseCheckpoint(raw)
}

// ParseCheckpoint reads checkpoint JSON strictly: unknown fields, field names in another letter
// case, a field given twice and hashes not in lowercase hex are errors (decodeStrictJSON).
func ParseCheckpoint(raw []byte) (*Checkpoint, error) {
	var c Checkpoint
	if err := decodeStrictJSON(raw, &c); err != nil {
		return nil, fmt.Errorf("not a checkpoint: %w", err)
	}
	return &c, nil
}

// ListCheckpoints implements CheckpointReader: every object under checkpoints/, in key order. A
// key with more than one version is reported as an error: the writer never overwrites (it sends
// If-None-Match), so a second version means someone wrote over a checkpoint. Object Lock keeps
// the original version, but the verifier must not read the newer one as if it were the checkpoint.
func (b *CheckpointBucket) ListCheckpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	return b.listCheckpoints(ctx, 0)
}

// listCheckpoints lists the checkpoints numbered from on (the listing starts after the key of
// from-1) and stops at the seals and verification records, which list after every checkpoint.
func (b *CheckpointBucket) listCheckpoints(ctx context.Context, from uint64) ([]StoredCheckpoint, error) {
	versions := map[string]int{}
	var keys []string
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(b.Name), Prefix: aws.String(checkpointPrefix)}
	if from > 0 {
		in.KeyMarker = aws.String(CheckpointKey(from - 1))
	}
	err := b.listVersions(ctx, in, func(k string, deleteMarker bool) bool {
		if strings.HasPrefix(k, verificationPrefix) || strings.HasPrefix(k, sealPrefix) {
			return true // the verification records and the seals list after every checkpoint
		}
		if from > 0 && k < CheckpointKey(from) {
			return false // a server that starts at the marker itself (S3 starts after it)
		}
		if versions[k] == 0 {
			keys = append(keys, k)
		}
		if deleteMarker {
			versions[k] += 2 // a delete marker hides the checkpoint: always an error
		} else {
			versions[k]++
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	out := make([]StoredCheckpoint, 0, len(keys))
	for _, k := range keys {
		if versions[k] > 1 {
			out = append(out, StoredCheckpoint{Key: k, Err: fmt.Errorf("has %d versions or a delete marker: it was written over after it was published", versions[k])})
			continue
		}
		// The entries are most of the object and only Recover needs them (CheckpointEntries): the
		// listing stops reading each object where they start.
		c, err := b.getSigned(ctx, k)
		out = append(out, StoredCheckpoint{Key: k, Checkpoint: c, Err: err})
	}
	return out, nil
}

// Retention implements RetentionInspector with GetObjectRetention.
func (b *CheckpointBucket) Retention(ctx context.Context, key string) (Retention, error) {
	out, err := b.Client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return Retention{}, err
	}
	if out.Retention == nil {
		return Retention{}, errors.New("object has no retention")
	}
	return Retention{Mode: string(out.Retention.Mode), RetainUntil: aws.ToTime(out.Retention.RetainUntilDate)}, nil
}

// CheckpointEntries implements CheckpointEntryReader: the entries checkpoint n carries (none for a
// checkpoint written before they were carried). They are authenticated only by the caller
// comparing them with the leaf hashes of a verified checkpoint.
func (b *CheckpointBucket) CheckpointEntries(ctx context.Context, n uint64) ([]Entry, error) {
	c, err := b.get(ctx, CheckpointKey(n))
	if err != nil {
		return nil, fmt.Errorf("reading %s from bucket %s: %w", CheckpointKey(n), b.Name, err)
	}
	return c.Entries, nil
}

// GetCheckpoint reads one checkpoint object by number, with its entries.
func (b *CheckpointBucket) GetCheckpoint(ctx context.Context, n uint64) (*Checkpoint, error) {
	return b.get(ctx, CheckpointKey(n))
}

// listVersions pages through ListObjectVersions and calls fn for each version and delete marker in
// key order until fn returns true. It pages by hand: a server that starts a page at the marker
// itself (gofakes3; S3 starts after it) repeats the marker's item, which is skipped, and a page
// that does not move the markers ends the listing instead of repeating forever.
func (b *CheckpointBucket) listVersions(ctx context.Context, in *s3.ListObjectVersionsInput, fn func(key string, deleteMarker bool) (stop bool)) error {
	return b.listVersionsWithIDs(ctx, in, func(key, _ string, deleteMarker bool) bool { return fn(key, deleteMarker) })
}

// listVersionsWithIDs is listVersions passing each version's ID too.
func (b *CheckpointBucket) listVersionsWithIDs(ctx context.Context, in *s3.ListObjectVersionsInput, fn func(key, versionID string, deleteMarker bool) (stop bool)) error {
	in.Bucket = aws.String(b.Name)
	var lastKey string
	lastVersions := map[string]bool{} // the versions of lastKey seen, for a page that repeats them
	for {
		page, err := b.Client.ListObjectVersions(ctx, in)
		if err != nil {
			return fmt.Errorf("listing bucket %s: %w", b.Name, err)
		}
		type item struct {
			key, version string
			deleteMarker bool
		}
		var items []item
		for _, v := range page.Versions {
			items = append(items, item{aws.ToString(v.Key), aws.ToString(v.VersionId), false})
		}
		for _, d := range page.DeleteMarkers {
			items = append(items, item{aws.ToString(d.Key), aws.ToString(d.VersionId), true})
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].key < items[j].key })
		progressed := false
		for _, it := range items {
			if it.key < lastKey || it.key == lastKey && lastVersions[it.version] {
				continue // listed on an earlier page
			}
			progressed = true
			if it.key != lastKey {
				lastKey, lastVersions = it.key, map[string]bool{}
			}
			lastVersions[it.version] = true
			if fn(it.key, it.version, it.deleteMarker) {
				return nil
			}
		}
		if !aws.ToBool(page.IsTruncated) || !progressed {
			return nil
		}
		if aws.ToString(page.NextKeyMarker) != "" {
			in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		} else {
			// A server that says truncated without the next markers (gofakes3): continue from the
			// last key listed, as S3 documents for ListObjects without NextMarker.
			in.KeyMarker, in.VersionIdMarker = aws.String(lastKey), nil
		}
	}
}
