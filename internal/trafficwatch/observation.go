package trafficwatch

import (
	"net/url"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/audit"
)

// Source is where an observation came from.
type Source string

// The sources the watcher reads.
const (
	SourceAccessLog Source = "access-log" // API Gateway access log line
	SourceAPISignal Source = "api-signal" // security signal line of the API handler
	SourceDLQ       Source = "dlq"        // message in a dead-letter queue
	SourceTopic     Source = "topic"      // notification on an internal SNS topic
)

// Observation is one thing the watcher saw, normalised from any source. It may hold personal data
// (Address, Principal) for counting; Alert never carries them in the clear.
type Observation struct {
	Source Source
	Time   time.Time
	// EventID identifies the event for idempotent counting (request ID, SQS or SNS message ID).
	EventID   string
	RequestID string
	// Address is the caller's IP address; Principal the Cognito sub; Tenant the tenant ID claim.
	Address   string
	Principal string
	Tenant    string
	Method    string
	// ResourcePath is the route template (/patients/{id}); Path the requested path.
	ResourcePath string
	Path         string
	Status       int
	WAFBlocked   bool
	// Action is the access-control action of an audit event (subject:export, ...); Interface the
	// event's interface (api, cli, job).
	Action    string
	Interface audit.Interface
	// Marker is the API signal marker (Marker* constants).
	Marker string
	// Detail is a fixed word about the case: a pattern class, an alarm or function name.
	Detail string
	// Queue is the dead-letter queue name; Topic the SNS topic name.
	Queue string
	Topic string
	// Invalid marks an internal message that does not parse or validate.
	Invalid bool
	// AlarmRaised marks a CloudWatch alarm notification entering ALARM; AsyncFailure a Lambda
	// on-failure destination record.
	AlarmRaised  bool
	AsyncFailure bool
}

// InjectionPattern is a class of injection payload the watcher looks for in request paths.
type InjectionPattern struct {
	// Name is the class named in alerts (the payload itself never is).
	Name string
	// Needles are lower-case substrings; any one matches.
	Needles []string
}

// InjectionPatterns are the payload classes DetectInjection recognises.
var InjectionPatterns = []InjectionPattern{
	{Name: "mongo-operator", Needles: []string{`{"$`, "{'$", `[$`, "$where", "$ne", "$gt", "$lt", "$regex", "$expr", "$function", "$in", "$nin", "$or"}},
	{Name: "path-traversal", Needles: []string{"../", `..\`, "/..", "%2e%2e", "..%2f", "..%5c"}},
	{Name: "script", Needles: []string{"<script", "javascript:", "onerror=", "onload=", "<svg", "<img"}},
	{Name: "null-byte", Needles: []string{"\x00", "%00"}},
}

// DetectInjection reports the first injection pattern class found in s, looking at s and at up to
// three rounds of URL-decoding (double encoding is a common evasion). The API handler may call it
// to fill the Detail of an injection_pattern signal.
func DetectInjection(s string) (string, bool) {
	cur := s
	for round := 0; round < 4; round++ {
		lower := strings.ToLower(cur)
		for _, p := range InjectionPatterns {
			for _, n := range p.Needles {
				if strings.Contains(lower, n) {
					return p.Name, true
				}
			}
		}
		next, err := url.PathUnescape(cur)
		if err != nil || next == cur {
			break
		}
		cur = next
	}
	return "", false
}

// knownDetail keeps only details that are fixed words the watcher knows, so nothing a caller
// controls reaches an alert.
func knownDetail(d string) string {
	for _, p := range InjectionPatterns {
		if d == p.Name {
			return d
		}
	}
	return ""
}
