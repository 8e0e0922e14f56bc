package trafficwatch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/accesslog"
)

// AccessLogFormat is the stage access-log format the watcher reads (defined in internal/accesslog,
// which the CDK stack uses to configure the stage).
const AccessLogFormat = accesslog.Format

// AccessRecord is one access-log line (see accesslog.Record).
type AccessRecord = accesslog.Record

// WAFBlock is the wafResponseCode of a request the web ACL blocked.
const WAFBlock = accesslog.WAFBlock

// value returns s, or "" for API Gateway's "-" placeholder.
func value(s string) string {
	s = strings.TrimSpace(s)
	if s == accesslog.Absent {
		return ""
	}
	return s
}

// observation turns an access record into an Observation. fallback is the log event's timestamp,
// used when the record's own time is missing.
func accessObservation(a AccessRecord, fallback time.Time) (Observation, error) {
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
		o, err := accessObservation(a, ts)
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
