package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/carohealth/platform/internal/failover"
)

// S3API is the part of the S3 client the journal and lock use.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3Journal keeps a plan's journal in a bucket of the target region, so it survives the loss of the
// operator's laptop and of the source region. S3 objects cannot be appended to, so each record is its
// own object failover/<plan>/journal/<seq>.json written with If-None-Match: * (a conditional write):
// two writers can never both write record n, and a record once written is never replaced.
type S3Journal struct {
	Client S3API
	Bucket string
	PlanID string

	mu   sync.Mutex
	next int // next sequence number, -1 when unknown
	init bool
}

func (j *S3Journal) prefix() string { return path.Join("failover", j.PlanID, "journal") + "/" }

func (j *S3Journal) keys(ctx context.Context) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(j.Client, &s3.ListObjectsV2Input{Bucket: aws.String(j.Bucket), Prefix: aws.String(j.prefix())})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("journal: list s3://%s/%s: %w", j.Bucket, j.prefix(), err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys) // zero-padded sequence numbers sort in order
	return keys, nil
}

// Append implements failover.Journal.
func (j *S3Journal) Append(ctx context.Context, r failover.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	for range 5 {
		if !j.init {
			keys, err := j.keys(ctx)
			if err != nil {
				return err
			}
			j.next, j.init = len(keys), true
		}
		key := fmt.Sprintf("%s%08d.json", j.prefix(), j.next)
		_, err := j.Client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(j.Bucket), Key: aws.String(key), Body: bytes.NewReader(b),
			ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
		})
		if err == nil {
			j.next++
			return nil
		}
		if !preconditionFailed(err) {
			return fmt.Errorf("journal: write s3://%s/%s: %w", j.Bucket, key, err)
		}
		j.init = false // someone else wrote that sequence number: re-list and retry
	}
	return errors.New("journal: lost the race for the next record five times: is another apply running?")
}

// Records implements failover.Journal.
func (j *S3Journal) Records(ctx context.Context) ([]failover.Record, error) {
	keys, err := j.keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]failover.Record, 0, len(keys))
	var damaged *failover.DamagedError
	for _, k := range keys {
		b, err := getObject(ctx, j.Client, j.Bucket, k)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		r, err := failover.DecodeRecord(b)
		if err != nil {
			if damaged == nil {
				damaged = &failover.DamagedError{Bucket: j.Bucket, Cause: err}
			}
			damaged.Objects = append(damaged.Objects, k)
			continue
		}
		out = append(out, r)
	}
	if damaged != nil {
		return out, damaged
	}
	return out, nil
}

// S3Lock is the failover lock as an object created with If-None-Match: *. Unlike a local flock it
// outlives a dead holder, so a lock from another host is only ever broken by an operator
// (failover.UnlockHint); the engine takes over a lock whose holder is provably dead on this host.
type S3Lock struct {
	Client S3API
	Bucket string
	// Key defaults to failover/lock.json.
	Key string
}

func (l *S3Lock) key() string {
	if l.Key != "" {
		return l.Key
	}
	return "failover/lock.json"
}

// Acquire implements failover.Lock. A lock released between the refused write and the read of its
// holder is tried again (a few times), so the refusal always names a holder.
func (l *S3Lock) Acquire(ctx context.Context, me failover.LockInfo) error {
	b, _ := json.Marshal(me)
	for range 5 {
		_, err := l.Client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(l.Bucket), Key: aws.String(l.key()), Body: bytes.NewReader(b),
			ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
		})
		if err == nil {
			return nil
		}
		if !preconditionFailed(err) {
			return fmt.Errorf("lock: s3://%s/%s: %w", l.Bucket, l.key(), err)
		}
		h, herr := l.Holder(ctx)
		if herr != nil {
			return herr
		}
		if h != nil {
			return &failover.LockedError{Holder: *h, Where: "s3://" + l.Bucket + "/" + l.key()}
		}
	}
	return fmt.Errorf("lock: s3://%s/%s is taken and released again and again: another apply is starting; wait a minute and run apply again", l.Bucket, l.key())
}

// Release implements failover.Lock: it deletes the lock only if it is still ours.
func (l *S3Lock) Release(ctx context.Context, me failover.LockInfo) error {
	h, err := l.Holder(ctx)
	if err != nil || h == nil {
		return err
	}
	if h.PID != me.PID || h.Host != me.Host || !h.Started.Equal(me.Started) {
		return nil
	}
	_, err = l.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.Bucket), Key: aws.String(l.key())})
	return err
}

// Holder implements failover.Lock.
func (l *S3Lock) Holder(ctx context.Context) (*failover.LockInfo, error) {
	b, err := getObject(ctx, l.Client, l.Bucket, l.key())
	if errors.Is(err, errNoObject) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	var h failover.LockInfo
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("lock: s3://%s/%s is unreadable (%v): break it with `%s`", l.Bucket, l.key(), err, failover.UnlockHint)
	}
	return &h, nil
}

// Break implements failover.Lock.
func (l *S3Lock) Break(ctx context.Context) (*failover.LockInfo, error) {
	h, _ := l.Holder(ctx)
	_, err := l.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.Bucket), Key: aws.String(l.key())})
	return h, err
}

var errNoObject = errors.New("no such object")

func getObject(ctx context.Context, c S3API, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
			return nil, errNoObject
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 1<<20))
}

func preconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}
