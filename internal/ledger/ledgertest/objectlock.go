// Package ledgertest provides the ledger's test environment on real local servers: FerretDB,
// local-kms with an ECC_NIST_P256 signing key, and gofakes3 behind ObjectLockShim.
package ledgertest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ObjectLockShim gives gofakes3 (which has no Object Lock) the part of S3 Object Lock the ledger
// relies on, in front of its HTTP handler:
//
//   - a PUT of an object records x-amz-object-lock-mode and x-amz-object-lock-retain-until-date
//     (or the bucket default, COMPLIANCE for DefaultYears, when the PUT names none);
//   - GET ?retention answers GetObjectRetention from that record (404
//     NoSuchObjectLockConfiguration when there is none), which is what the verifier reads;
//   - DELETE of a retained object is refused with 403 AccessDenied; PUT ?retention and ?legal-hold
//     are always refused (COMPLIANCE retention cannot be shortened);
//   - a PUT over a retained key is passed on: in the versioned bucket (ledgertest enables
//     versioning, as the real bucket has) it adds a new version and the locked one stays, as in S3.
//
// Differences from S3, stated plainly: the lock record is per key, not per version (the first
// version's lock is kept), and DELETE is refused even when it would only add a delete marker.
// SetRetention changes a record directly, to test that the verifier catches a wrong lock.
type ObjectLockShim struct {
	Next         http.Handler
	DefaultYears int
	Now          func() time.Time

	mu  sync.Mutex
	ret map[string]lockRecord // "bucket/key"
}

type lockRecord struct {
	Mode  string
	Until time.Time
}

// NewObjectLockShim wraps next (localstack.S3.Handler()).
func NewObjectLockShim(next http.Handler, defaultYears int) *ObjectLockShim {
	return &ObjectLockShim{Next: next, DefaultYears: defaultYears, Now: time.Now, ret: map[string]lockRecord{}}
}

// SetRetention overwrites the lock record of bucket/key (tests only).
func (s *ObjectLockShim) SetRetention(bucket, key, mode string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ret[bucket+"/"+key] = lockRecord{Mode: mode, Until: until}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// ServeHTTP implements http.Handler.
func (s *ObjectLockShim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	isObject := strings.Contains(path, "/") && !strings.HasSuffix(path, "/")
	q := r.URL.Query()
	if !isObject {
		s.Next.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	rec, locked := s.ret[path]
	s.mu.Unlock()
	retained := locked && rec.Until.After(s.Now())
	switch {
	case q.Has("retention") && r.Method == http.MethodGet:
		if !locked {
			s3Error(w, http.StatusNotFound, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		_ = xml.NewEncoder(w).Encode(struct {
			XMLName         xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Retention"`
			Mode            string   `xml:"Mode"`
			RetainUntilDate string   `xml:"RetainUntilDate"`
		}{Mode: rec.Mode, RetainUntilDate: rec.Until.UTC().Format(time.RFC3339)})
		return
	case q.Has("retention") || q.Has("legal-hold"):
		s3Error(w, http.StatusForbidden, "AccessDenied", "object lock configuration cannot be changed (COMPLIANCE)")
		return
	case r.Method == http.MethodDelete && retained:
		s3Error(w, http.StatusForbidden, "AccessDenied", "object is retained by Object Lock in COMPLIANCE mode")
		return
	case r.Method == http.MethodPut && isPlainPut(q):
		mode := r.Header.Get("X-Amz-Object-Lock-Mode")
		until := s.Now().UTC().AddDate(s.DefaultYears, 0, 0)
		if v := r.Header.Get("X-Amz-Object-Lock-Retain-Until-Date"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				s3Error(w, http.StatusBadRequest, "InvalidArgument", "malformed x-amz-object-lock-retain-until-date")
				return
			}
			until = t
		}
		if mode == "" {
			mode = "COMPLIANCE"
		}
		if mode != "COMPLIANCE" && mode != "GOVERNANCE" {
			s3Error(w, http.StatusBadRequest, "InvalidArgument", "unknown object lock mode")
			return
		}
		rw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		s.Next.ServeHTTP(rw, r)
		if rw.status == http.StatusOK && !retained {
			s.SetRetention(strings.SplitN(path, "/", 2)[0], strings.SplitN(path, "/", 2)[1], mode, until)
		}
		return
	}
	s.Next.ServeHTTP(w, r)
}

// isPlainPut reports whether the query of a PUT names no subresource (the SDK adds x-id=PutObject).
func isPlainPut(q url.Values) bool {
	for k := range q {
		if k != "x-id" {
			return false
		}
	}
	return true
}
