package trafficwatch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AccessLogFormat is the API Gateway (REST API) stage access-log format the watcher expects: one
// JSON object per request. Configure it on the stage (CDK: AccessLogFormat.custom(AccessLogFormat)
// with a JSON destination log group), and subscribe the watcher to that log group with an empty
// filter pattern.
//
// API Gateway cannot log request headers, so whether X-Caro-Origin-Verify was present is not in the
// access log: the regional WAF blocks requests without the right value, and "waf" says so
// (WAF_BLOCK); the handler reports the header itself with the origin_verify_* signals.
const AccessLogFormat = `{"requestId":"$context.requestId",` +
	`"time":"$context.requestTimeEpoch",` +
	`"ip":"$context.identity.sourceIp",` +
	`"userAgent":"$context.identity.userAgent",` +
	`"sub":"$context.authorizer.claims.sub",` +
	`"tenant":"$context.authorizer.claims.custom:tenant_id",` +
	`"httpMethod":"$context.httpMethod",` +
	`"resourcePath":"$context.resourcePath",` +
	`"path":"$context.path",` +
	`"status":"$context.status",` +
	`"responseType":"$context.error.responseType",` +
	`"waf":"$context.wafResponseCode",` +
	`"integrationStatus":"$context.integration.status",` +
	`"responseLength":"$context.responseLength"}`

// AccessRecord is one access-log line in AccessLogFormat. API Gateway writes every value as a
// string and "-" for a value it does not have (no claims on a 401, no WAF on a stage without one).
type AccessRecord struct {
	RequestID    string `json:"requestId"`
	Time         string `json:"time"`
	IP           string `json:"ip"`
	UserAgent    string `json:"userAgent"`
	Sub          string `json:"sub"`
	Tenant       string `json:"tenant"`
	HTTPMethod   string `json:"httpMethod"`
	ResourcePath string `json:"resourcePath"`
	Path         string `json:"path"`
	Status       string `json:"status"`
	ResponseType string `json:"responseType"`
	WAF          string `json:"waf"`
	// IntegrationStatus and ResponseLength are logged for people reading the log; no rule uses them.
	IntegrationStatus string `json:"integrationStatus"`
	ResponseLength    string `json:"responseLength"`
}

// WAFBlock is the wafResponseCode of a request the web ACL blocked.
const WAFBlock = "WAF_BLOCK"

// value returns s, or "" for API Gateway's "-" placeholder.
func value(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	return s
}

// observation turns an access record into an Observation. fallback is the log event's timestamp,
// used when the record's own time is missing.
func (a AccessRecord) observation(fallback time.Time) (Observation, error) {
	status, err := strconv.Atoi(value(a.Status))
	if err != nil || status < 100 || status > 599 {
		return Observation{}, fmt.Errorf("access record %q has no valid status %q", a.RequestID, a.Status)
	}
	t := fallback
	if ms, err := strconv.ParseInt(value(a.Time), 10, 64); err == nil && ms > 0 {
		t = time.UnixMilli(ms)
	}
	return Observation{
		Source:       SourceAccessLog,
		Time:         t.UTC(),
		EventID:      value(a.RequestID),
		RequestID:    value(a.RequestID),
		Address:      value(a.IP),
		Principal:    value(a.Sub),
		Tenant:       value(a.Tenant),
		Method:       value(a.HTTPMethod),
		ResourcePath: value(a.ResourcePath),
		Path:         value(a.Path),
		Status:       status,
		WAFBlocked:   value(a.WAF) == WAFBlock,
	}, nil
}

// parseLogMessage reads one CloudWatch Logs message: a security signal line, an access record, or
// neither (ok false: the line is not for the watcher).
func parseLogMessage(msg string, ts time.Time) (Observation, bool, error) {
	msg = strings.TrimSpace(msg)
	// A Lambda log line may carry a prefix before the JSON (timestamp, request ID, level).
	if i := strings.IndexByte(msg, '{'); i > 0 {
		msg = msg[i:]
	}
	if !strings.HasPrefix(msg, "{") {
		return Observation{}, false, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(msg), &probe); err != nil {
		return Observation{}, false, nil
	}
	if _, ok := probe[SignalField]; ok {
		var s Signal
		if err := json.Unmarshal([]byte(msg), &s); err != nil {
			return Observation{}, false, fmt.Errorf("security signal line does not parse: %v", err)
		}
		o, err := s.observation(ts)
		return o, err == nil, err
	}
	// An access record has all of these; the API's own request log lines (requestId, status,
	// method) do not have resourcePath and httpMethod, so they are not mistaken for one.
	if hasAll(probe, "requestId", "status", "httpMethod", "resourcePath") {
		var a AccessRecord
		if err := json.Unmarshal([]byte(msg), &a); err != nil {
			return Observation{}, false, fmt.Errorf("access record does not parse: %v", err)
		}
		o, err := a.observation(ts)
		return o, err == nil, err
	}
	return Observation{}, false, nil
}

func hasAll(m map[string]json.RawMessage, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}
