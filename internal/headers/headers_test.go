package headers

import (
	"strings"
	"testing"
)

func TestSecurityPolicyMeetsObservatoryAPlus(t *testing.T) {
	h := Security().Header()
	want := map[string]string{
		"Strict-Transport-Security":    "max-age=63072000; includeSubDomains; preload",
		"X-Frame-Options":              "DENY",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "strict-origin-when-cross-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for name, v := range want {
		if got := h.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("CSP must start from default-src 'none': %q", csp)
	}
	for _, d := range []string{"frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP lacks %q: %q", d, csp)
		}
	}
	for _, weak := range []string{"unsafe-inline", "unsafe-eval", "*", "data:", "http:"} {
		if strings.Contains(csp, weak) {
			t.Errorf("CSP contains %q, which costs Observatory points: %q", weak, csp)
		}
	}
	if h.Get("Permissions-Policy") == "" {
		t.Error("Permissions-Policy missing")
	}
}
