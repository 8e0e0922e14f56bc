package backup

import "github.com/carohealth/platform/internal/objstore"

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
