// Package objstore is the small part of S3 the toolkit's record keepers need (the encrypted
// backups in internal/backup and the erasure register in internal/erasure, which share one
// bucket), with an adapter for the AWS SDK's S3 client. It lives on its own so both can use it
// without importing each other.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Store is the part of S3 the packages need.
type Store interface {
	// Put stores body (size bytes) under key.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// Get opens the object under key; it returns an error wrapping ErrNotFound when absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose key starts with prefix.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// Info describes one stored object.
type Info struct {
	Key          string
	Size         int64
	LastModified time.Time
}

// ErrNotFound is what Store.Get wraps for a missing object.
var ErrNotFound = errors.New("object not found")

// S3API is the subset of *s3.Client that NewS3 uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// NewS3 adapts an S3 client to Store for one bucket. kmsKeyID, when set, asks S3 to encrypt the
// objects with SSE-KMS under that key; empty leaves it to the bucket's default encryption.
func NewS3(client S3API, bucket, kmsKeyID string) Store {
	return s3Store{c: client, bucket: bucket, sseKey: kmsKeyID}
}

type s3Store struct {
	c      S3API
	bucket string
	sseKey string
}

func (s s3Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String("application/octet-stream")}
	if s.sseKey != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.sseKey)
	}
	if _, err := s.c.PutObject(ctx, in); err != nil {
		return fmt.Errorf("s3 put s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

func (s s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("s3 get s3://%s/%s: %w", s.bucket, key, ErrNotFound)
		}
		return nil, fmt.Errorf("s3 get s3://%s/%s: %w", s.bucket, key, err)
	}
	return out.Body, nil
}

func (s s3Store) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3 list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}
