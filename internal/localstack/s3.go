package localstack

import (
	"fmt"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"html"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is an in-memory S3 (gofakes3 v1.2.0 with its s3mem backend) served inside the test process
// on a 127.0.0.1 port. Clients must use path-style addressing (s3.Options.UsePathStyle = true),
// because bucket host names like bucket.127.0.0.1 do not resolve.
//
// Supported: buckets (create, list, head, delete), PutObject/GetObject/HeadObject/DeleteObject,
// DeleteObjects, CopyObject, ListObjects V1 and V2 with prefix/delimiter/paging, ranged GETs,
// user metadata, multipart uploads, bucket versioning (PutBucketVersioning, ListObjectVersions,
// GET/DELETE by versionId) and conditional PUTs (If-Match / If-None-Match).
//
// Not supported: Object Lock and retention/legal hold, bucket policies, ACLs, lifecycle rules,
// replication, bucket encryption settings, tagging, CORS/website/logging/notification settings,
// presigned POST, and checksums (x-amz-checksum-* headers are ignored, none are returned; SSE
// headers are ignored too). Requests are not authenticated. gofakes3 itself would treat such
// calls as the plain bucket/object call (PutObjectTagging would overwrite the object with the
// tagging XML); this wrapper answers them with 501 NotImplemented instead, so code that needs them
// fails loudly. Test those parts against an httptest fake that checks the request shape.
type S3 struct {
	srv     *httptest.Server
	backend *s3mem.Backend

	stopOnce sync.Once
}

// StartS3 starts an empty in-memory S3 on a free 127.0.0.1 port and creates the given buckets.
// It runs in the test process; nothing is installed.
func StartS3(buckets ...string) (*S3, error) {
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	s := &S3{backend: backend}
	// httptest.NewServer listens on 127.0.0.1:0 (a free port) and serves in the background.
	s.srv = httptest.NewServer(rejectUnsupported(faker.Server()))
	for _, b := range buckets {
		if err := s.CreateBucket(b); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// StartS3ForTest starts an in-memory S3 for one test with the given buckets and stops it in
// tb.Cleanup.
func StartS3ForTest(tb testing.TB, buckets ...string) *S3 {
	tb.Helper()
	s, err := StartS3(buckets...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Stop() })
	return s
}

// CreateBucket creates a bucket directly in the backend (same as the CreateBucket API call).
func (s *S3) CreateBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return fmt.Errorf("create bucket %q: %w: use 3-63 lowercase letters, digits, dots and hyphens", name, err)
	}
	if err := s.backend.CreateBucket(name); err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	return nil
}

// Endpoint returns the base URL for the AWS SDK, like http://127.0.0.1:PORT (see AWSConfig).
func (s *S3) Endpoint() string {
	return s.srv.URL
}

// Addr returns the host:port the server listens on.
func (s *S3) Addr() string {
	return s.srv.Listener.Addr().String()
}

// Handler returns the S3 HTTP handler, for serving it from another server.
func (s *S3) Handler() http.Handler {
	return s.srv.Config.Handler
}

// Stop closes the listener and drops all buckets and objects. It is safe to call more than once.
// It never fails; it returns an error only to match the other servers' Stop.
func (s *S3) Stop() error {
	s.stopOnce.Do(s.srv.Close)
	return nil
}

// unsupportedSubresources are the S3 query subresources gofakes3 v1.2.0 does not implement.
var unsupportedSubresources = []string{
	"object-lock", "retention", "legal-hold", "tagging", "acl", "policy", "policyStatus",
	"lifecycle", "replication", "encryption", "cors", "website", "logging", "notification",
	"ownershipControls", "publicAccessBlock", "accelerate", "requestPayment", "analytics",
	"inventory", "metrics", "intelligent-tiering", "restore", "select", "attributes", "torrent",
}

// rejectUnsupported answers requests for unsupported subresources with S3's NotImplemented error
// instead of letting gofakes3 run them as plain bucket/object requests.
func rejectUnsupported(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for _, sub := range unsupportedSubresources {
			if q.Has(sub) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusNotImplemented)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
					`<Error><Code>NotImplemented</Code><Message>the local S3 (gofakes3) does not support ?%s</Message>`+
					`<Resource>%s</Resource></Error>`, sub, html.EscapeString(r.URL.Path))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Client returns an S3 client of the server (path-style, dummy credentials) in region.
func (s *S3) Client(region string) *s3.Client {
	return s3.NewFromConfig(AWSConfig(region, s.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
}
