package api

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/trafficwatch"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// signals returns the security signal lines logged, decoded as the traffic watcher decodes them.
func signals(t *testing.T, log string) []trafficwatch.Signal {
	t.Helper()
	var out []trafficwatch.Signal
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.Contains(line, `"`+trafficwatch.SignalField+`"`) {
			continue
		}
		var s trafficwatch.Signal
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("signal line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

func TestSecuritySignals(t *testing.T) {
	var buf lockedBuf
	h, err := NewHandler(Config{DB: testDB, OriginSecret: "origin-s3cret", Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	u := user{"attacker-sub", uniqueTenant("signals"), "clinician"}
	origin := withHeader(OriginHeader, "origin-s3cret")
	ip := func(r *events.APIGatewayProxyRequest) { r.RequestContext.Identity.SourceIP = "203.0.113.9" }

	cases := []struct {
		name           string
		do             func()
		marker, detail string
	}{
		{"no origin header", func() { e.expect(403, CodeForbidden, u, "GET", "/patients", "", ip) }, trafficwatch.MarkerOriginVerifyMissing, ""},
		{"wrong origin header", func() {
			e.expect(403, CodeForbidden, u, "GET", "/patients", "", ip, withHeader(OriginHeader, "guess"))
		}, trafficwatch.MarkerOriginVerifyUnknown, ""},
		{"operator in body", func() {
			e.expect(400, CodeForbiddenKey, u, "POST", "/patients", `{"givenName":{"$ne":""}}`, ip, origin)
		}, trafficwatch.MarkerInjection, "mongo-operator"},
		{"traversal as id", func() {
			e.expect(400, CodeInvalidID, u, "GET", "/patients/..%2f..%2fetc", "", ip, origin)
		}, trafficwatch.MarkerInjection, "path-traversal"},
		{"traversal route", func() { e.expect(404, CodeNotFound, u, "GET", "/../../etc/passwd", "", ip, origin) }, trafficwatch.MarkerInjection, "path-traversal"},
		{"tenant in body", func() {
			e.expect(400, CodeUnknownField, u, "POST", "/patients", `{"tenantId":"other","givenName":"A","familyName":"B","birthDate":"2000-01-01"}`, ip, origin)
		}, trafficwatch.MarkerTenantMismatch, ""},
		{"tenant in query", func() {
			e.expect(400, CodeInvalidQuery, u, "GET", "/patients", "", ip, origin, withQuery(map[string]string{"tenant_id": "other"}))
		}, trafficwatch.MarkerTenantMismatch, ""},
	}
	for _, c := range cases {
		buf.take()
		c.do()
		got := signals(t, buf.take())
		if len(got) != 1 {
			t.Fatalf("%s: %d signals", c.name, len(got))
		}
		s := got[0]
		if s.Marker != c.marker || s.Detail != c.detail || s.RequestID != e.lastRequestID() || s.IP != "203.0.113.9" ||
			s.Sub != u.sub || s.TenantID != u.tenant || s.Status == 0 || s.HTTPMethod == "" {
			t.Fatalf("%s: signal %+v", c.name, s)
		}
	}

	// Ordinary mistakes and successes are not signals.
	for _, ok := range []func(){
		func() { e.expect(200, "", u, "GET", "/patients", "", origin) },
		func() { e.expect(404, CodeNotFound, u, "GET", "/patients/"+NewID(), "", origin) },
		func() {
			e.expect(400, CodeValidation, u, "POST", "/patients", `{"givenName":"","familyName":"B","birthDate":"2000-01-01"}`, origin)
		},
		func() {
			e.expect(201, "", u, "POST", "/patients", `{"givenName":"<img> fan","familyName":"B","birthDate":"2000-01-01"}`, origin)
		},
	} {
		buf.take()
		ok()
		if got := signals(t, buf.take()); len(got) != 0 {
			t.Fatalf("signal for an ordinary request: %+v", got)
		}
	}
	// Signals never carry the payload.
	buf.take()
	e.expect(400, CodeForbiddenKey, u, "POST", "/patients", `{"$where":"sleep(5000) secret-payload"}`, origin)
	if log := buf.take(); strings.Contains(log, "secret-payload") || strings.Contains(log, "sleep") {
		t.Fatalf("log carries the payload: %s", log)
	}
}

// TestSignalEdges: every tenant parameter name is a tenant signal; a large body (above half the
// scan bound) is still scanned; the source IP is kept up to 64 characters.
func TestSignalEdges(t *testing.T) {
	var buf lockedBuf
	h, err := NewHandler(Config{DB: testDB, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	u := user{"edge-sub", uniqueTenant("sigedge"), "clinician"}
	one := func(what string) trafficwatch.Signal {
		t.Helper()
		got := signals(t, buf.take())
		if len(got) != 1 {
			t.Fatalf("%s: %d signals", what, len(got))
		}
		return got[0]
	}
	for _, name := range []string{"tenantId", "tenant_id", "tenant", "custom:tenant_id", "TENANTID"} {
		buf.take()
		e.expect(400, CodeInvalidQuery, u, "GET", "/patients", "", withQuery(map[string]string{name: "other"}))
		if s := one("query " + name); s.Marker != trafficwatch.MarkerTenantMismatch {
			t.Errorf("query %s: %+v", name, s)
		}
		buf.take()
		e.expect(400, CodeUnknownField, u, "POST", "/patients", `{"`+name+`":"other"}`)
		if s := one("body " + name); s.Marker != trafficwatch.MarkerTenantMismatch {
			t.Errorf("body %s: %+v", name, s)
		}
	}
	// A forbidden key is a signal even without a known injection pattern; a plain syntax error is not.
	buf.take()
	e.expect(400, CodeForbiddenKey, u, "POST", "/patients", `{"a.b":1}`)
	if s := one("dotted key"); s.Marker != trafficwatch.MarkerInjection || s.Detail != "" {
		t.Errorf("dotted key: %+v", s)
	}
	buf.take()
	e.expect(400, CodeInvalidJSON, u, "POST", "/patients", `{"givenName":`)
	if got := signals(t, buf.take()); len(got) != 0 {
		t.Errorf("a syntax error is a signal: %+v", got)
	}
	big := `{"text":"x","pad":"` + strings.Repeat("a", 40<<10) + `","q":"../../etc/passwd"}`
	buf.take()
	e.expect(400, CodeUnknownField, u, "POST", "/patients/"+NewID()+"/notes", big)
	if s := one("40 KiB body"); s.Marker != trafficwatch.MarkerInjection {
		t.Errorf("40 KiB body: %+v", s)
	}
	bigTenant := `{"tenantId":"other","pad":"` + strings.Repeat("a", 40<<10) + `"}`
	buf.take()
	e.expect(400, CodeUnknownField, u, "POST", "/patients", bigTenant)
	if s := one("40 KiB tenant body"); s.Marker != trafficwatch.MarkerTenantMismatch {
		t.Errorf("40 KiB tenant body: %+v", s)
	}
	// Refusals before the body is read (a bad ID, a bad query) scan a body of up to twice the body
	// limit, exactly that much included.
	edge := `{"q":"../../etc/passwd","pad":"`
	edge += strings.Repeat("a", 2*DefaultMaxBodyBytes-len(edge)-2) + `"}`
	buf.take()
	e.expect(400, CodeInvalidID, u, "GET", "/patients/123", edge)
	if s := one("body at the scan bound"); s.Marker != trafficwatch.MarkerInjection {
		t.Errorf("body at the scan bound: %+v", s)
	}
	edgeTenant := `{"tenantId":"x","pad":"`
	edgeTenant += strings.Repeat("a", 2*DefaultMaxBodyBytes-len(edgeTenant)-2) + `"}`
	buf.take()
	e.expect(400, CodeInvalidQuery, u, "GET", "/patients", edgeTenant, withQuery(map[string]string{"x": "1"}))
	if s := one("tenant body at the scan bound"); s.Marker != trafficwatch.MarkerTenantMismatch {
		t.Errorf("tenant body at the scan bound: %+v", s)
	}
	for _, c := range []struct {
		ip   string
		kept bool
	}{{strings.Repeat("1", 64), true}, {strings.Repeat("1", 65), false}} {
		buf.take()
		e.expect(400, CodeForbiddenKey, u, "POST", "/patients", `{"$where":"1"}`,
			func(r *events.APIGatewayProxyRequest) { r.RequestContext.Identity.SourceIP = c.ip })
		if s := one("ip"); (s.IP == c.ip) != c.kept {
			t.Errorf("ip of %d characters kept=%v", len(c.ip), s.IP == c.ip)
		}
	}
}
