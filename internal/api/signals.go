package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/tenancy"
	"github.com/carohealth/platform/internal/trafficwatch"
)

// Security signals: for refusals that look like an attack, the handler writes one extra log line
// carrying the traffic watcher's caroSignal field (trafficwatch.Signal), which the function's log
// subscription (trafficwatch.SignalFilterPattern) forwards to the watcher. A signal holds IDs and
// fixed words only: never a body, header value, query string or raw path.

// signalFor decides whether a refused request is a security signal; marker "" means no signal.
func signalFor(req events.APIGatewayProxyRequest, ae *apiError) (marker, detail string) {
	switch ae.Code {
	case codeOriginMissing:
		return trafficwatch.MarkerOriginVerifyMissing, ""
	case codeOriginUnknown:
		return trafficwatch.MarkerOriginVerifyUnknown, ""
	case CodeUnknownField, CodeInvalidQuery:
		if namesTenant(req) {
			return trafficwatch.MarkerTenantMismatch, ""
		}
	}
	switch ae.Code {
	case CodeNotFound:
		// A missing route or resource: only the path is suspect (a traversal, a script).
		if name, ok := trafficwatch.DetectInjection(req.Path); ok {
			return trafficwatch.MarkerInjection, name
		}
	case CodeForbiddenKey, CodeInvalidID, CodeInvalidQuery, CodeInvalidJSON, CodeUnknownField:
		for _, s := range candidates(req) {
			if name, ok := trafficwatch.DetectInjection(s); ok {
				return trafficwatch.MarkerInjection, name
			}
		}
		if ae.Code == CodeForbiddenKey {
			return trafficwatch.MarkerInjection, ""
		}
	}
	return "", ""
}

// candidates are the client-controlled strings checked for injection patterns (bounded by the body
// limit, which readBody has already enforced or refused).
func candidates(req events.APIGatewayProxyRequest) []string {
	out := []string{req.Path}
	for _, v := range req.QueryStringParameters {
		out = append(out, v)
	}
	if len(req.Body) <= DefaultMaxBodyBytes*2 {
		out = append(out, req.Body)
	}
	return out
}

// namesTenant reports whether the request tried to pass a tenant itself (a query parameter or a
// top-level body field naming a tenant): the API never takes one, it comes from the token only.
func namesTenant(req events.APIGatewayProxyRequest) bool {
	isTenant := func(k string) bool {
		k = strings.ToLower(k)
		return k == "tenantid" || k == "tenant_id" || k == "tenant" || k == "custom:tenant_id"
	}
	for k := range req.QueryStringParameters {
		if isTenant(k) {
			return true
		}
	}
	var top map[string]json.RawMessage
	if len(req.Body) <= DefaultMaxBodyBytes*2 && json.Unmarshal([]byte(req.Body), &top) == nil {
		for k := range top {
			if isTenant(k) {
				return true
			}
		}
	}
	return false
}

// emitSignal writes the signal line through the handler's JSON logger.
func (h *Handler) emitSignal(req events.APIGatewayProxyRequest, requestID string, ae *apiError) {
	marker, detail := signalFor(req, ae)
	if marker == "" {
		return
	}
	attrs := []any{trafficwatch.SignalField, marker, "requestId", requestID, "httpMethod", safeMethod(req.HTTPMethod),
		"status", ae.Status}
	if rt, _, _, _ := match(req.HTTPMethod, req.Path); rt != nil {
		attrs = append(attrs, "resourcePath", rt.Pattern)
	}
	if ip := req.RequestContext.Identity.SourceIP; ip != "" && len(ip) <= 64 {
		attrs = append(attrs, "ip", ip)
	}
	if p, err := tenancy.PrincipalFromClaims(tenancy.ClaimsFromAuthorizer(req.RequestContext.Authorizer)); err == nil {
		attrs = append(attrs, "sub", p.Subject, "tenantId", p.TenantID)
	}
	if detail != "" {
		attrs = append(attrs, "detail", detail)
	}
	h.log.Warn("security signal", attrs...)
}

func safeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead, http.MethodOptions:
		return m
	}
	return "OTHER"
}
