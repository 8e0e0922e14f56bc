package trafficwatch

import (
	"encoding/json"
	"errors"
	"io"
	"time"
)

// SignalField is the JSON field that marks a log line as a security signal from the API handler.
const SignalField = "caroSignal"

// SignalFilterPattern is the CloudWatch Logs subscription filter pattern that sends the API
// function's security signal lines (and nothing else) to the watcher.
const SignalFilterPattern = `{ $.caroSignal = "*" }`

// Markers the API handler puts in a signal's caroSignal field.
const (
	// MarkerTenantMismatch: the request named a tenant other than the principal's (a tenantId in a
	// body, query or filter that differs from custom:tenant_id), or the handler otherwise knows the
	// request tried to reach another tenant's data. The API still answers 404; this marker is how
	// the watcher learns it was a cross-tenant attempt rather than a typo.
	MarkerTenantMismatch = "tenant_mismatch"
	// MarkerOriginVerifyMissing: CARO_ORIGIN_SECRET is set and the request had no
	// X-Caro-Origin-Verify header (it did not come through CloudFront).
	MarkerOriginVerifyMissing = "origin_verify_missing"
	// MarkerOriginVerifyUnknown: the header was present with a value that is not the current or
	// previous secret. Never put the value in the signal.
	MarkerOriginVerifyUnknown = "origin_verify_unknown"
	// MarkerInjection: the handler refused input matching an injection pattern (a $-key, an
	// operator object, a traversal); Detail names the pattern class from DetectInjection.
	MarkerInjection = "injection_pattern"
)

// Signal is one security signal line, written by the API handler to its log (stdout) as a single
// JSON object, for example:
//
//	{"caroSignal":"tenant_mismatch","requestId":"c0ffee...","sub":"5b1d...","tenantId":"t-1",
//	 "ip":"203.0.113.9","httpMethod":"GET","resourcePath":"/patients/{id}","status":404}
//
// It carries identifiers only (never bodies, header values or query strings): the watcher
// pseudonymises sub and ip before anything leaves it.
type Signal struct {
	Marker       string `json:"caroSignal"`
	RequestID    string `json:"requestId"`
	Sub          string `json:"sub,omitempty"`
	TenantID     string `json:"tenantId,omitempty"`
	IP           string `json:"ip,omitempty"`
	HTTPMethod   string `json:"httpMethod,omitempty"`
	ResourcePath string `json:"resourcePath,omitempty"`
	Status       int    `json:"status,omitempty"`
	// Detail is a fixed word naming the case (a pattern class like "mongo-operator"), never input.
	Detail string `json:"detail,omitempty"`
}

// WriteSignal writes s as one log line to w (the API Lambda's stdout).
func WriteSignal(w io.Writer, s Signal) error {
	if s.Marker == "" || s.RequestID == "" {
		return errors.New("security signal needs a marker and a request ID")
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s Signal) observation(ts time.Time) (Observation, error) {
	if s.Marker == "" {
		return Observation{}, errors.New("security signal without a marker")
	}
	return Observation{
		Source:       SourceAPISignal,
		Time:         ts.UTC(),
		EventID:      s.RequestID + "/" + s.Marker,
		RequestID:    s.RequestID,
		Address:      s.IP,
		Principal:    s.Sub,
		Tenant:       s.TenantID,
		Method:       s.HTTPMethod,
		ResourcePath: s.ResourcePath,
		Status:       s.Status,
		Marker:       s.Marker,
		Detail:       s.Detail,
	}, nil
}
