package trafficwatch

import (
	"strings"
	"time"

	"github.com/carohealth/platform/internal/audit"
)

// Category separates operational failures from attempted security breaches.
type Category string

// The categories of rules.
const (
	CategoryFailure Category = "failure"
	CategoryBreach  Category = "breach"
)

// Severity tells on-call how fast to act.
type Severity string

// Severities, highest first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
)

// GroupBy says what a rule counts per.
type GroupBy string

// The grouping keys.
const (
	ByAddress   GroupBy = "address"   // caller IP address (pseudonymised in alerts)
	ByPrincipal GroupBy = "principal" // Cognito sub (pseudonymised in alerts)
	ByQueue     GroupBy = "queue"     // dead-letter queue name
	ByTopic     GroupBy = "topic"     // SNS topic name
	ByDetail    GroupBy = "detail"    // alarm or function name
	ByAPI       GroupBy = "api"       // the whole API of this region
)

// Rule is one line of the watcher's rules table.
type Rule struct {
	// ID names the rule in alerts and in SNS message attributes (subscription filter policies).
	ID       string
	Category Category
	Severity Severity
	// When selects the observations the rule counts.
	When func(Observation) bool
	// GroupBy is what the rule counts per; observations without that key are not counted.
	GroupBy GroupBy
	// Threshold is how many matching observations within Window raise an alert. After an alert the
	// key stays quiet for one Window, then alerts again if the condition persists.
	Threshold int
	Window    time.Duration
	// Summary says what happened; Action what on-call should do. Both go into the alert.
	Summary string
	Action  string
}

func isAuthFailure(o Observation) bool {
	return o.Source == SourceAccessLog && (o.Status == 401 || o.Status == 403) && !o.WAFBlocked
}

// Rules is the one table of the traffic watcher's rules. Thresholds and windows are data here;
// rules_test.go walks every rule at, below and above its threshold.
var Rules = []Rule{
	// --- failures ---
	{
		ID: "dlq-message", Category: CategoryFailure, Severity: SeverityHigh,
		When:    func(o Observation) bool { return o.Source == SourceDLQ },
		GroupBy: ByQueue, Threshold: 1, Window: 5 * time.Minute,
		Summary: "a message reached a dead-letter queue: an event or invocation failed after all retries",
		Action:  "inspect the queue's messages by ID, fix the cause, then redrive the queue",
	},
	{
		ID: "async-invocation-failed", Category: CategoryFailure, Severity: SeverityHigh,
		When:    func(o Observation) bool { return o.Source == SourceTopic && o.AsyncFailure },
		GroupBy: ByDetail, Threshold: 1, Window: 5 * time.Minute,
		Summary: "an asynchronous Lambda invocation failed after all retries (on-failure destination)",
		Action:  "read the function's logs for the request IDs and replay the event once fixed",
	},
	{
		ID: "alarm-raised", Category: CategoryFailure, Severity: SeverityHigh,
		When:    func(o Observation) bool { return o.Source == SourceTopic && o.AlarmRaised },
		GroupBy: ByDetail, Threshold: 1, Window: 5 * time.Minute,
		Summary: "a CloudWatch alarm entered ALARM",
		Action:  "open the alarm named in detail and follow its runbook",
	},
	{
		ID: "internal-message-invalid", Category: CategoryFailure, Severity: SeverityHigh,
		When:    func(o Observation) bool { return o.Source == SourceTopic && o.Invalid },
		GroupBy: ByTopic, Threshold: 1, Window: 5 * time.Minute,
		Summary: "an internal topic carried a message that does not parse or validate (e.g. an audit event with missing fields)",
		Action:  "find the publisher by the message ID; a producer is broken or someone publishes to the topic who should not",
	},
	{
		ID: "server-error-burst", Category: CategoryFailure, Severity: SeverityCritical,
		When:    func(o Observation) bool { return o.Source == SourceAccessLog && o.Status >= 500 },
		GroupBy: ByAPI, Threshold: 5, Window: time.Minute,
		Summary: "a burst of 5xx responses from the API",
		Action:  "check the API function's errors and the database health (GET /api/health); consider failover if the region is degraded",
	},
	// --- breach attempts ---
	{
		ID: "auth-failures-by-address", Category: CategoryBreach, Severity: SeverityHigh,
		When:    isAuthFailure,
		GroupBy: ByAddress, Threshold: 10, Window: 5 * time.Minute,
		Summary: "repeated 401/403 responses to one address: token guessing or probing",
		Action:  "look up the address for the request IDs in the access log; block it in the WAF if the pattern continues",
	},
	{
		ID: "auth-failures-by-principal", Category: CategoryBreach, Severity: SeverityHigh,
		When:    isAuthFailure,
		GroupBy: ByPrincipal, Threshold: 5, Window: 5 * time.Minute,
		Summary: "repeated 401/403 responses to one signed-in user: probing for actions the roles do not allow",
		Action:  "identify the user from the request IDs; disable the account (AdminDisableUser) if it is not a misconfigured role",
	},
	{
		ID: "id-probing-by-principal", Category: CategoryBreach, Severity: SeverityMedium,
		When: func(o Observation) bool {
			return o.Source == SourceAccessLog && o.Status == 404 && strings.Contains(o.ResourcePath, "{")
		},
		GroupBy: ByPrincipal, Threshold: 10, Window: 5 * time.Minute,
		Summary: "repeated 404s on resource IDs from one user: enumerating IDs, possibly another tenant's",
		Action:  "identify the user from the request IDs and review the account; IDs are unguessable, so honest clients rarely miss",
	},
	{
		ID: "cross-tenant-attempt", Category: CategoryBreach, Severity: SeverityCritical,
		When:    func(o Observation) bool { return o.Source == SourceAPISignal && o.Marker == MarkerTenantMismatch },
		GroupBy: ByPrincipal, Threshold: 1, Window: 5 * time.Minute,
		Summary: "a user tried to reach data of a tenant other than their own (refused with 404)",
		Action:  "identify the user from the request IDs, disable the account and inform the tenant's privacy officer",
	},
	{
		ID: "injection-attempt", Category: CategoryBreach, Severity: SeverityHigh,
		When: func(o Observation) bool {
			if o.Source == SourceAPISignal {
				return o.Marker == MarkerInjection
			}
			if o.Source != SourceAccessLog {
				return false
			}
			_, found := DetectInjection(o.Path)
			return found
		},
		GroupBy: ByAddress, Threshold: 1, Window: 5 * time.Minute,
		Summary: "a request carried an injection pattern (operator object, traversal, script)",
		Action:  "the request was refused; review the request IDs, block the address in the WAF if it repeats",
	},
	{
		ID: "bulk-subject-requests-by-principal", Category: CategoryBreach, Severity: SeverityHigh,
		When: func(o Observation) bool {
			// Exports count from any interface. Erasures only through the API: a restore or `caro
			// gdpr reapply` re-erases, as cli or job events, subjects whose erasure users already
			// requested (the erasure register).
			return o.Source == SourceTopic && (o.Action == "subject:export" ||
				(o.Action == "subject:erase" && o.Interface == audit.InterfaceAPI))
		},
		GroupBy: ByPrincipal, Threshold: 5, Window: 10 * time.Minute,
		Summary: "one user exported or erased many data subjects in a short time (audit events): possible exfiltration or sabotage",
		Action:  "confirm with the tenant's privacy officer that these GDPR requests are genuine; disable the account if not",
	},
	{
		ID: "origin-verify-failure", Category: CategoryBreach, Severity: SeverityHigh,
		When: func(o Observation) bool {
			return (o.Source == SourceAccessLog && o.WAFBlocked) ||
				(o.Source == SourceAPISignal && (o.Marker == MarkerOriginVerifyMissing || o.Marker == MarkerOriginVerifyUnknown))
		},
		GroupBy: ByAddress, Threshold: 1, Window: 5 * time.Minute,
		Summary: "a request reached the regional API without the CloudFront origin-verify header, or with an unknown value",
		Action:  "someone calls the regional endpoint directly; if the value was unknown after a rotation, check the secret rotation, else block the address",
	},
}

// RuleByID returns the rule with id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
