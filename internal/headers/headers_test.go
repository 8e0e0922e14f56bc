package headers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/headers/headerstest"
)

// TestEachSecurityHeaderHasItsExactValue compares every rendering of the policy with the values
// written out in headerstest.Want (not with another rendering of Security()): a header removed,
// added or weakened fails here by name.
func TestEachSecurityHeaderHasItsExactValue(t *testing.T) {
	p := headers.Security()
	h := p.Header()
	headerstest.Check(t, "Header()", h.Get)
	headerstest.Check(t, "Map()", headerstest.Lookup(p.Map()))
	w := http.Header{"X-Frame-Options": {"SAMEORIGIN"}, "Content-Security-Policy": {"default-src *"}}
	p.Apply(w)
	headerstest.Check(t, "Apply() over a handler's weaker values", w.Get)
	for name, values := range h {
		if _, ok := headerstest.Want[name]; !ok {
			t.Errorf("Header() sends %s (%q), which headerstest.Want does not list", name, values)
		}
		if len(values) != 1 || len(w[name]) != 1 {
			t.Errorf("%s has %d values (Apply: %d), want one", name, len(values), len(w[name]))
		}
	}
	if len(p.Map()) != len(headerstest.Want) || len(h) != len(headerstest.Want) {
		t.Errorf("Map() has %d headers, Header() %d, want %d", len(p.Map()), len(h), len(headerstest.Want))
	}
}

// TestCrossOriginOpenerPolicy names the header whose removal no test used to notice (issue 23
// mutant 5): without it a window the app opens could script the app's window.
func TestCrossOriginOpenerPolicy(t *testing.T) {
	if got := headers.Security().Header().Get("Cross-Origin-Opener-Policy"); got != "same-origin" {
		t.Fatalf("Cross-Origin-Opener-Policy = %q, want same-origin", got)
	}
}

// TestStrictTransportSecurityRendering: each HSTS switch renders its own directive and nothing else.
func TestStrictTransportSecurityRendering(t *testing.T) {
	for _, c := range []struct {
		p    headers.Policy
		want string
	}{
		{headers.Policy{HSTSMaxAgeSeconds: 10}, "max-age=10"},
		{headers.Policy{HSTSMaxAgeSeconds: 10, HSTSIncludeSubDomains: true}, "max-age=10; includeSubDomains"},
		{headers.Policy{HSTSMaxAgeSeconds: 10, HSTSPreload: true}, "max-age=10; preload"},
		{headers.Policy{HSTSMaxAgeSeconds: headers.TwoYears, HSTSIncludeSubDomains: true, HSTSPreload: true}, "max-age=63072000; includeSubDomains; preload"},
	} {
		if got := c.p.StrictTransportSecurity(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

// TestNoSniffFollowsItsSwitch: X-Content-Type-Options is sent only when the policy says so.
func TestNoSniffFollowsItsSwitch(t *testing.T) {
	if got := (headers.Policy{}).Header().Get("X-Content-Type-Options"); got != "" {
		t.Fatalf("sent without ContentTypeNoSniff: %q", got)
	}
	if got := (headers.Policy{ContentTypeNoSniff: true}).Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("%q", got)
	}
}

// TestCustomNamesSorted: custom headers render in a stable (sorted) order, so the CloudFront policy
// synthesizes the same way every time.
func TestCustomNamesSorted(t *testing.T) {
	p := headers.Policy{Custom: map[string]string{"B-H": "2", "A-H": "1", "C-H": "3"}}
	if got := strings.Join(p.CustomNames(), ","); got != "A-H,B-H,C-H" {
		t.Fatalf("%s", got)
	}
}

// TestSecurityPolicyMeetsObservatoryAPlus: what the MDN HTTP Observatory scores, as properties of
// the CSP (a second look besides the exact values above).
func TestSecurityPolicyMeetsObservatoryAPlus(t *testing.T) {
	csp := headers.Security().Header().Get("Content-Security-Policy")
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
}
