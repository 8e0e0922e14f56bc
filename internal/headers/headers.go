// Package headers is the one definition of the security response headers the platform sends. The
// CloudFront response-headers policy (constructs/edge) and the local runner both render it, and tests
// keep the two equal, so what the browser suite checks locally is what production serves.
package headers

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Policy is the set of security headers, structured the way CloudFront's response-headers policy
// wants them; Header renders the same values as HTTP headers.
type Policy struct {
	// HSTSMaxAgeSeconds is Strict-Transport-Security max-age.
	HSTSMaxAgeSeconds     int
	HSTSIncludeSubDomains bool
	HSTSPreload           bool
	// ContentSecurityPolicy is the full CSP header value.
	ContentSecurityPolicy string
	// FrameOptions is X-Frame-Options (DENY).
	FrameOptions string
	// ContentTypeNoSniff sets X-Content-Type-Options: nosniff.
	ContentTypeNoSniff bool
	// ReferrerPolicy is Referrer-Policy.
	ReferrerPolicy string
	// Custom are headers CloudFront has no typed field for, sent as custom headers.
	Custom map[string]string
}

// TwoYears is the HSTS max-age that the HSTS preload list and the MDN HTTP Observatory expect.
const TwoYears = 2 * 365 * 24 * 60 * 60

// CognitoEndpoints are the only cross-origin hosts the front end talks to: Cognito's sign-in API in
// the primary and standby regions (the app signs in with SRP against the pool of the serving region).
var CognitoEndpoints = []string{
	"https://cognito-idp.eu-west-1.amazonaws.com",
	"https://cognito-idp.eu-central-1.amazonaws.com",
}

// Security returns the platform's security header policy. The CSP starts from default-src 'none' and
// allows only same-origin scripts, styles, images and API calls, plus sign-in calls to Cognito: the
// front end has no inline script or style, so nothing weaker is needed.
func Security() Policy {
	return Policy{
		HSTSMaxAgeSeconds:     TwoYears,
		HSTSIncludeSubDomains: true,
		HSTSPreload:           true,
		ContentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
			"connect-src 'self' " + strings.Join(CognitoEndpoints, " ") + "; font-src 'self'; manifest-src 'self'; frame-ancestors 'none'; " +
			"form-action 'self'; base-uri 'none'; upgrade-insecure-requests",
		FrameOptions:       "DENY",
		ContentTypeNoSniff: true,
		ReferrerPolicy:     "strict-origin-when-cross-origin",
		Custom: map[string]string{
			"Cross-Origin-Resource-Policy": "same-origin",
			"Cross-Origin-Opener-Policy":   "same-origin",
			"Permissions-Policy":           "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
		},
	}
}

// StrictTransportSecurity renders the HSTS header value.
func (p Policy) StrictTransportSecurity() string {
	v := fmt.Sprintf("max-age=%d", p.HSTSMaxAgeSeconds)
	if p.HSTSIncludeSubDomains {
		v += "; includeSubDomains"
	}
	if p.HSTSPreload {
		v += "; preload"
	}
	return v
}

// Header renders the policy as HTTP response headers.
func (p Policy) Header() http.Header {
	h := http.Header{}
	h.Set("Strict-Transport-Security", p.StrictTransportSecurity())
	h.Set("Content-Security-Policy", p.ContentSecurityPolicy)
	h.Set("X-Frame-Options", p.FrameOptions)
	if p.ContentTypeNoSniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	h.Set("Referrer-Policy", p.ReferrerPolicy)
	for _, name := range p.CustomNames() {
		h.Set(name, p.Custom[name])
	}
	return h
}

// Map renders the policy as one value per header name, the shape of a Lambda proxy response's
// headers: the API and health functions send it themselves, so a response that does not pass
// through CloudFront's response-headers policy (the regional API domains) carries the same set.
func (p Policy) Map() map[string]string {
	h := p.Header()
	out := make(map[string]string, len(h))
	for name := range h {
		out[name] = h.Get(name)
	}
	return out
}

// CustomNames returns the custom header names in a stable order.
func (p Policy) CustomNames() []string {
	names := make([]string, 0, len(p.Custom))
	for n := range p.Custom {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Apply sets every header of the policy on w, replacing any value a handler set.
func (p Policy) Apply(w http.Header) {
	for name, values := range p.Header() {
		w[name] = values
	}
}
