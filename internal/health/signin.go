package health

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/headers"
)

// Environment variables of the sign-in configuration (set by the platform stack on the health
// function: the region's user pool and its web client). CARO_REGION is the serving region.
const (
	EnvRegion           = "CARO_REGION"
	EnvUserPoolID       = "CARO_USER_POOL_ID"
	EnvUserPoolClientID = "CARO_USER_POOL_CLIENT_ID"
)

// AuthConfigPath is the route of the sign-in configuration (without the /api base path).
const AuthConfigPath = "/auth/config"

// SignInConfig is the GET /auth/config body: what the web app needs to sign in with SRP against the
// user pool of the region that serves it. The front end cannot read it from its config.json (that
// comes from the us-east-1 edge stack and no values cross stacks), so it asks the API, which follows
// the Route 53 failover record to the serving region. None of it is secret: the web client has no
// secret and Cognito's sign-in API is public.
type SignInConfig struct {
	Region     string `json:"region"`
	UserPoolID string `json:"userPoolId"`
	ClientID   string `json:"clientId"`
}

// SignInConfigFrom reads the sign-in configuration from the environment. It does not validate it:
// New does, so a bad value never stops the health check Route 53 depends on.
func SignInConfigFrom(getenv func(string) string) SignInConfig {
	return SignInConfig{Region: getenv(EnvRegion), UserPoolID: getenv(EnvUserPoolID), ClientID: getenv(EnvUserPoolClientID)}
}

// Configured reports whether a user pool or client is configured at all. Without either (the local
// runner, which signs in with development tokens) GET /auth/config answers 404.
func (s SignInConfig) Configured() bool { return s.UserPoolID != "" || s.ClientID != "" }

var (
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	poolIDPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]_[0-9A-Za-z]{1,55}$`)
	clientIDPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,128}$`)
)

// Validate reports the first missing or malformed value, naming the variable to fix. The pool must
// be in the serving region: a pool of another region would sign users in against the wrong region's
// users after a failover.
func (s SignInConfig) Validate() error {
	switch {
	case !regionPattern.MatchString(s.Region):
		return fmt.Errorf("sign-in config: %s %q is not an AWS region: set it to the region this function runs in", EnvRegion, s.Region)
	case s.UserPoolID == "":
		return fmt.Errorf("sign-in config: %s is empty but %s is set: set both (the region's user pool and its web client) or neither", EnvUserPoolID, EnvUserPoolClientID)
	case s.ClientID == "":
		return fmt.Errorf("sign-in config: %s is empty but %s is set: set both (the region's user pool and its web client) or neither", EnvUserPoolClientID, EnvUserPoolID)
	case !strings.HasPrefix(s.UserPoolID, s.Region+"_"):
		return fmt.Errorf("sign-in config: %s %q is not a user pool of %s (want %s_<id>): wire this region's own pool", EnvUserPoolID, s.UserPoolID, s.Region, s.Region)
	case !poolIDPattern.MatchString(s.UserPoolID):
		return fmt.Errorf("sign-in config: %s %q is not a user pool ID (want %s_<letters and digits>)", EnvUserPoolID, s.UserPoolID, s.Region)
	case !clientIDPattern.MatchString(s.ClientID):
		return fmt.Errorf("sign-in config: %s %q is not an app client ID (letters and digits only)", EnvUserPoolClientID, s.ClientID)
	}
	return nil
}

// handleSignInConfig serves GET (and HEAD) /auth/config: 200 with the configuration, 404 when none is
// configured, 503 when it is configured but invalid (the detail was logged when the function
// started; the client only learns that sign-in is not available here).
func (c *Checker) handleSignInConfig(req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	id := safeID(req.RequestContext.RequestID)
	if req.HTTPMethod != http.MethodGet && req.HTTPMethod != http.MethodHead {
		resp := errorResponse(id, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		resp.Headers["Allow"] = "GET, HEAD"
		return resp
	}
	if !c.cfg.SignIn.Configured() {
		return errorResponse(id, http.StatusNotFound, "not_found",
			"sign-in is not configured here: this deployment has no user pool (the local runner uses development tokens)")
	}
	if c.signInErr != nil {
		return errorResponse(id, http.StatusServiceUnavailable, "sign_in_not_configured",
			"sign-in is not configured on this server; retry later and quote the request ID if it persists")
	}
	resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Headers: baseHeaders(id)}
	if req.HTTPMethod == http.MethodGet {
		b, _ := json.Marshal(c.cfg.SignIn)
		resp.Body = string(b)
	}
	return resp
}

// errorBody is the platform's JSON error shape (internal/api.ErrorResponse).
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func errorResponse(requestID string, status int, code, message string) events.APIGatewayProxyResponse {
	b, _ := json.Marshal(errorBody{Error: code, Message: message, RequestID: requestID})
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: baseHeaders(requestID), Body: string(b)}
}

// securityHeaders is the platform's security header set (internal/headers).
var securityHeaders = headers.Security().Map()

// baseHeaders are the headers of every answer of this function, as internal/api sends them,
// security headers included: on the regional API domains (the Route 53 health checks' target, let
// through the WAF without the origin secret) no CloudFront response-headers policy adds them.
func baseHeaders(requestID string) map[string]string {
	h := maps.Clone(securityHeaders)
	h["Content-Type"] = "application/json; charset=utf-8"
	h["Cache-Control"] = "no-store"
	if requestID != "" {
		h["X-Request-Id"] = requestID
	}
	return h
}
