// Package accesslog is the one definition of the API Gateway stage access-log format: the CDK stack
// configures the stage with Format, and the traffic watcher (internal/trafficwatch) reads the lines
// back as Record. Like internal/headers it has no dependencies, so the constructs may import it and
// the two sides cannot drift apart.
package accesslog

// Format is the API Gateway (REST API) stage access-log format the watcher expects: one JSON object
// per request. Configure it on the stage (CDK: awsapigateway.AccessLogFormat_Custom(jsii.String(
// accesslog.Format)) with a log group destination), and subscribe the watcher to that log group with
// an empty filter pattern.
//
// API Gateway cannot log request headers, so whether X-Caro-Origin-Verify was present is not in the
// access log: the regional WAF blocks requests without the right value, and "waf" says so
// (WAF_BLOCK); the handler reports the header itself with the origin_verify_* signals.
//
// The tenant claim is deliberately not logged: custom:tenant_id contains a colon, and whether a
// REST access-log format accepts $context.authorizer.claims.custom:tenant_id is not documented; a
// format API Gateway refuses would fail the stage deployment. The tenant reaches alerts through
// the API's security signals instead, which is where tenant-related rules look.
const Format = `{"requestId":"$context.requestId",` +
	`"time":"$context.requestTimeEpoch",` +
	`"ip":"$context.identity.sourceIp",` +
	`"userAgent":"$context.identity.userAgent",` +
	`"sub":"$context.authorizer.claims.sub",` +
	`"httpMethod":"$context.httpMethod",` +
	`"resourcePath":"$context.resourcePath",` +
	`"path":"$context.path",` +
	`"status":"$context.status",` +
	`"responseType":"$context.error.responseType",` +
	`"waf":"$context.wafResponseCode",` +
	`"integrationStatus":"$context.integration.status",` +
	`"responseLength":"$context.responseLength"}`

// Record is one access-log line in Format. API Gateway writes every value as a
// string and "-" for a value it does not have (no claims on a 401, no WAF on a stage without one).
type Record struct {
	RequestID    string `json:"requestId"`
	Time         string `json:"time"`
	IP           string `json:"ip"`
	UserAgent    string `json:"userAgent"`
	Sub          string `json:"sub"`
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

// Absent is what API Gateway writes for a variable it has no value for.
const Absent = "-"
