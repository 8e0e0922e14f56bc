// Package headerstest holds the security headers the platform promises, each name with its exact
// value written out here, not derived from internal/headers: it is the independent oracle the tests
// of internal/headers and of every component that sends the headers compare against. A change of
// the policy must change this table too, on purpose.
package headerstest

import (
	"sort"
	"strings"
	"testing"
)

// Want is every security header of the platform and its exact value.
var Want = map[string]string{
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com https://cognito-idp.eu-central-1.amazonaws.com; " +
		"font-src 'self'; manifest-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; upgrade-insecure-requests",
	"X-Frame-Options":              "DENY",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "strict-origin-when-cross-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Permissions-Policy":           "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()",
}

// Names returns the names of Want, sorted.
func Names() []string {
	names := make([]string, 0, len(Want))
	for n := range Want {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check fails t for every header of Want that get (a case-insensitive lookup of the response's
// headers) does not return with exactly its value; what names the response in the message.
func Check(t testing.TB, what string, get func(name string) string) {
	t.Helper()
	for _, name := range Names() {
		if got := get(name); got != Want[name] {
			t.Errorf("%s: %s = %q, want %q", what, name, got, Want[name])
		}
	}
}

// Lookup returns a case-insensitive getter over a Lambda proxy response's single-value headers.
func Lookup(h map[string]string) func(string) string {
	return func(name string) string {
		for k, v := range h {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return ""
	}
}
