package backup

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/objstore"
)

// ObjectStore is the part of S3 the package needs (objstore.Store, shared with the erasure
// register that lives in the same bucket).
type ObjectStore = objstore.Store

// ObjectInfo describes one stored object.
type ObjectInfo = objstore.Info

// ErrObjectNotFound is what ObjectStore.Get wraps for a missing object.
var ErrObjectNotFound = objstore.ErrNotFound

// S3API is the subset of *s3.Client that NewS3Store uses.
type S3API = objstore.S3API

// NewS3Store adapts an S3 client to ObjectStore for one bucket. kmsKeyID, when set, asks S3 to
// encrypt the (already encrypted) objects again with SSE-KMS under that key, as the bucket policy
// requires.
func NewS3Store(client S3API, bucket, kmsKeyID string) ObjectStore {
	return objstore.NewS3(client, bucket, kmsKeyID)
}

// OpenAWS returns the object store of bucket and the KMS of region through the default AWS
// configuration (the operator's credentials; AWS_ENDPOINT_URL_* point it at local servers, and
// pathStyle then addresses S3 path-style).
func OpenAWS(ctx context.Context, region, bucket string, pathStyle bool) (ObjectStore, KMS, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	return NewS3Store(s3c, bucket, ""), NewAWSKMS(kms.NewFromConfig(cfg)), nil
}
