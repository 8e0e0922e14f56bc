package localrunner

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/devauth"
	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/trafficwatch"
)

// The runner under test, started once in TestMain on a free port against a stub handler that
// echoes the proxy event it received, so each test sees what the Lambda code would see.
var (
	baseURL      string
	handlerCalls atomic.Int64
	alertsFile   string
	handlerLog   io.Writer
)

// echoHandler is the stub API handler: it answers 200 with the event as JSON, and a few paths
// misbehave on purpose.
func echoHandler(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	handlerCalls.Add(1)
	switch ev.Path {
	case "/fail":
		return events.APIGatewayProxyResponse{}, errors.New("database exploded at 10.0.0.7 with stack trace")
	case "/wide-cors":
		return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{
			"Access-Control-Allow-Origin": "*", "X-Frame-Options": "ALLOWALL", "Content-Type": "application/json"}, Body: "{}"}, nil
	case "/signal":
		// As the API does when a request names another tenant: a security signal line in its log.
		claims, _ := ev.RequestContext.Authorizer["claims"].(map[string]interface{})
		sub, _ := claims["sub"].(string)
		_ = trafficwatch.WriteSignal(handlerLog, trafficwatch.Signal{Marker: trafficwatch.MarkerTenantMismatch,
			RequestID: ev.RequestContext.RequestID, Sub: sub, TenantID: "t", IP: ev.RequestContext.Identity.SourceIP,
			HTTPMethod: ev.HTTPMethod, ResourcePath: ev.Resource, Status: 404})
		return events.APIGatewayProxyResponse{StatusCode: 404, Body: `{"error":"not_found"}`}, nil
	case "/binary":
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), IsBase64Encoded: true,
			MultiValueHeaders: map[string][]string{"Set-Thing": {"a", "b"}}}, nil
	}
	b, _ := json.Marshal(ev)
	return events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b)}, nil
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "localrunner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	web := filepath.Join(dir, "web")
	files := map[string]string{
		"index.html":                "<!doctype html><title>Caro</title>",
		"js/app.js":                 "console.log('caro');",
		".well-known/security.txt":  "Contact: mailto:security@caro.health\n",
		".env":                      "SECRET=1",
		"empty/readme.md":           "x",
		"notes/index.html":          "<p>notes</p>",
		"../outside-web-secret.txt": "never served",
	}
	for name, content := range files {
		p := filepath.Join(web, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ready := filepath.Join(dir, "ready")
	alertsFile = filepath.Join(dir, "alerts.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errOut syncBuffer
	go func() {
		done <- Run(ctx, Config{
			Addr: "127.0.0.1:0", WebDir: web, MongoURI: "mongodb://127.0.0.1:1/", ReadyFile: ready, AlertsFile: alertsFile,
			NewHandler: func(_ context.Context, env HandlerEnv) (ProxyHandler, func(), error) {
				handlerLog = env.Log
				return ProxyHandlerFunc(echoHandler), nil, nil
			},
		}, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			baseURL = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "runner did not become ready:", errOut.String())
			cancel()
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.TrimSpace(out.String()) != baseURL {
		fmt.Fprintf(os.Stderr, "stdout = %q, want the base URL %q\n", out.String(), baseURL)
		cancel()
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "runner stopped with error:", err)
		return 1
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, "ready file left behind after stop")
		return 1
	}
	return code
}

// syncBuffer is a bytes.Buffer safe for the runner goroutine and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, path string, body string, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

func token(t *testing.T, body string) string {
	t.Helper()
	r := do(t, "POST", "/dev/token", body, map[string]string{"Content-Type": "application/json"})
	if r.status != 200 {
		t.Fatalf("POST /dev/token = %d %s", r.status, r.body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Issuer != "https://caro-local.invalid/dev-only" || !tr.DevOnly || tr.TokenType != "Bearer" {
		t.Fatalf("token response = %+v", tr)
	}
	return tr.Token
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func assertSecurityHeaders(t *testing.T, what string, got http.Header) {
	t.Helper()
	for name, want := range headers.Security().Header() {
		if g := got.Values(name); strings.Join(g, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: header %s = %q, want %q (the shared definition)", what, name, g, want)
		}
	}
}

func assertJSONError(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("body %s is not {error,message,requestId}: %v", r.body, err)
	}
	if e.Error != code || e.Message == "" || e.RequestID == "" || e.RequestID != r.header.Get("X-Amzn-RequestId") {
		t.Fatalf("error body = %+v (header request ID %q), want error %q", e, r.header.Get("X-Amzn-RequestId"), code)
	}
}

func TestEveryResponseCarriesTheSharedSecurityHeaders(t *testing.T) {
	tok := token(t, `{"sub":"u1","tenantId":"t1","roles":["clinician"]}`)
	cases := []struct {
		name, method, path string
		hdr                map[string]string
	}{
		{"index", "GET", "/", nil},
		{"script", "GET", "/js/app.js", nil},
		{"security.txt", "GET", "/.well-known/security.txt", nil},
		{"static 404", "GET", "/nope.html", nil},
		{"api 200", "GET", "/api/patients", bearer(tok)},
		{"api 401", "GET", "/api/patients", nil},
		{"api health", "GET", "/api/health", nil},
		{"handler tried to weaken", "GET", "/api/wide-cors", bearer(tok)},
		{"handler failed", "GET", "/api/fail", bearer(tok)},
		{"token 405", "GET", "/dev/token", nil},
		{"preflight", "OPTIONS", "/api/patients", map[string]string{"Origin": baseURL, "Access-Control-Request-Method": "POST"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, tc.path, "", tc.hdr)
			assertSecurityHeaders(t, tc.name, r.header)
		})
	}
}

func TestTokenRefusalsNeverReachTheHandler(t *testing.T) {
	good := token(t, `{"sub":"u1","tenantId":"t1","roles":["clinician"]}`)
	expired := token(t, `{"sub":"u1","tenantId":"t1","expiresInSeconds":-60}`)
	otherAudience := token(t, `{"sub":"u1","tenantId":"t1","audience":"some-other-app-client"}`)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	elevated := strings.Replace(string(payload), `"custom:roles":"clinician"`, `"custom:roles":"admin,privacy-officer"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(elevated)) + "." + parts[2]
	sig := []byte(parts[2])
	sig[5] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	cases := map[string]map[string]string{
		"no token":           nil,
		"empty bearer":       {"Authorization": "Bearer "},
		"expired":            bearer(expired),
		"tampered claims":    bearer(tampered),
		"tampered signature": bearer(badSig),
		"alg none":           bearer(none),
		"wrong audience":     bearer(otherAudience),
		"garbage":            bearer("not-a-jwt"),
		"basic auth":         {"Authorization": "Basic dXNlcjpwYXNz"},
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			before := handlerCalls.Load()
			for _, p := range []string{"/api/patients", "/api/patients/p1", "/api/subjects/p1/export", "/api/unknown/route"} {
				r := do(t, "GET", p, "", hdr)
				assertJSONError(t, r, http.StatusUnauthorized, "unauthorized")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer")
				}
			}
			if handlerCalls.Load() != before {
				t.Fatal("the handler ran for a refused token")
			}
		})
	}
	if r := do(t, "GET", "/api/patients", "", bearer(good)); r.status != 200 {
		t.Fatalf("the good token was refused: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", "/api/patients", "", map[string]string{"Authorization": good}); r.status != 200 {
		t.Fatalf("a raw token (no Bearer), as the Cognito authorizer accepts, was refused: %d %s", r.status, r.body)
	}
}

func TestProxyEventMatchesAPIGateway(t *testing.T) {
	tok := token(t, `{"sub":"user-7","tenantId":"tenant-b","roles":["nurse","privacy-officer"]}`)
	hdr := bearer(tok)
	hdr["Content-Type"] = "application/json"
	hdr["X-Custom"] = "v"
	r := do(t, "POST", "/api/patients/p123/notes?tag=a&tag=b&limit=5", `{"text":"hello"}`, hdr)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != "/patients/p123/notes" || ev.Resource != "/patients/{id}/notes" || ev.PathParameters["id"] != "p123" ||
		ev.HTTPMethod != "POST" || ev.Body != `{"text":"hello"}` || ev.IsBase64Encoded {
		t.Fatalf("event = path %q resource %q params %v method %q body %q", ev.Path, ev.Resource, ev.PathParameters, ev.HTTPMethod, ev.Body)
	}
	if got := ev.MultiValueQueryStringParameters["tag"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("multi-value query = %v", ev.MultiValueQueryStringParameters)
	}
	if ev.QueryStringParameters["limit"] != "5" || ev.QueryStringParameters["tag"] != "b" {
		t.Errorf("query = %v", ev.QueryStringParameters)
	}
	if ev.Headers["X-Custom"] != "v" || ev.Headers["Content-Type"] != "application/json" || ev.MultiValueHeaders["X-Custom"][0] != "v" {
		t.Errorf("headers = %v", ev.Headers)
	}
	rc := ev.RequestContext
	if rc.RequestID == "" || rc.RequestID != r.header.Get("X-Amzn-RequestId") || rc.Stage != Stage ||
		rc.ResourcePath != "/patients/{id}/notes" || rc.Identity.SourceIP != "127.0.0.1" || rc.Path != "/api/patients/p123/notes" {
		t.Errorf("requestContext = %+v", rc)
	}
	claims, _ := rc.Authorizer["claims"].(map[string]interface{})
	want := map[string]string{"sub": "user-7", "custom:tenant_id": "tenant-b", "custom:roles": "nurse,privacy-officer",
		"aud": "caro-local-dev-client", "iss": "https://caro-local.invalid/dev-only", "token_use": "id"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("authorizer.claims[%q] = %v, want %q", k, claims[k], v)
		}
	}
}

func TestPrefixStripping(t *testing.T) {
	tok := token(t, `{"sub":"u","tenantId":"t"}`)
	cases := []struct{ path, wantPath, wantResource string }{
		{"/api/patients", "/patients", "/patients"},
		{"/api/patients/", "/patients/", "/patients"},
		{"/api/notes/n1", "/notes/n1", "/notes/{id}"},
		{"/api/subjects/s1/export", "/subjects/s1/export", "/subjects/{id}/export"},
		{"/api/subjects/s1", "/subjects/s1", "/subjects/{id}"},
		{"/api/api/patients", "/api/patients", "/{proxy+}"},
		{"/api", "/", "/{proxy+}"},
	}
	for _, tc := range cases {
		r := do(t, "GET", tc.path, "", bearer(tok))
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		if ev.Path != tc.wantPath || ev.Resource != tc.wantResource {
			t.Errorf("%s: path %q resource %q, want %q %q", tc.path, ev.Path, ev.Resource, tc.wantPath, tc.wantResource)
		}
	}
	// /apix is not the API: it is a (missing) static file, and the handler never sees it.
	before := handlerCalls.Load()
	assertJSONError(t, do(t, "GET", "/apix/patients", "", bearer(tok)), 404, "not_found")
	if handlerCalls.Load() != before {
		t.Fatal("/apix reached the handler")
	}
}

func TestHealthNeedsNoTokenAndGetsNoClaims(t *testing.T) {
	r := do(t, "GET", "/api/health", "", nil)
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != "/health" || ev.RequestContext.Authorizer != nil {
		t.Fatalf("path %q authorizer %v", ev.Path, ev.RequestContext.Authorizer)
	}
	assertJSONError(t, do(t, "DELETE", "/api/health", "", nil), 401, "unauthorized")
}

func TestAuthConfigNeedsNoTokenAndGetsNoClaims(t *testing.T) {
	// GIVEN the runner WHEN the front end asks for the sign-in configuration without a token
	r := do(t, "GET", "/api/auth/config", "", nil)

	// THEN it reaches the handler as API Gateway's /auth/config resource, without claims
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != "/auth/config" || ev.Resource != "/auth/config" || ev.RequestContext.Authorizer != nil {
		t.Fatalf("path %q resource %q authorizer %v", ev.Path, ev.Resource, ev.RequestContext.Authorizer)
	}
	// AND only GET is public, as in API Gateway
	assertJSONError(t, do(t, "POST", "/api/auth/config", "", nil), 401, "unauthorized")
}

func TestHandlerCannotWeakenHeadersOrCORS(t *testing.T) {
	tok := token(t, `{"sub":"u","tenantId":"t"}`)
	hdr := bearer(tok)
	hdr["Origin"] = "https://evil.example"
	r := do(t, "GET", "/api/wide-cors", "", hdr)
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin got ACAO %q", r.header.Get("Access-Control-Allow-Origin"))
	}
	if r.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("X-Frame-Options = %q", r.header.Get("X-Frame-Options"))
	}
	hdr["Origin"] = baseURL
	r = do(t, "GET", "/api/wide-cors", "", hdr)
	if r.header.Get("Access-Control-Allow-Origin") != baseURL {
		t.Fatalf("own origin ACAO = %q, want %q", r.header.Get("Access-Control-Allow-Origin"), baseURL)
	}
}

func TestCORSPreflight(t *testing.T) {
	own := do(t, "OPTIONS", "/api/patients", "", map[string]string{"Origin": baseURL, "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type"})
	if own.status != 204 || own.header.Get("Access-Control-Allow-Origin") != baseURL ||
		!strings.Contains(own.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("own-origin preflight: %d %v", own.status, own.header)
	}
	for _, origin := range []string{"https://evil.example", "null", baseURL + ".evil.example", strings.Replace(baseURL, "http:", "https:", 1)} {
		r := do(t, "OPTIONS", "/api/patients", "", map[string]string{"Origin": origin, "Access-Control-Request-Method": "DELETE"})
		if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("preflight from %q got Access-Control-Allow-Origin %q", origin, v)
		}
		if r.header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight from %q got Allow-Methods", origin)
		}
	}
}

func TestStaticFiles(t *testing.T) {
	cases := []struct {
		path        string
		status      int
		body, ctype string
	}{
		{"/", 200, "<!doctype html><title>Caro</title>", "text/html; charset=utf-8"},
		{"/index.html", 200, "<!doctype html><title>Caro</title>", "text/html; charset=utf-8"},
		{"/js/app.js", 200, "console.log('caro');", "text/javascript; charset=utf-8"},
		{"/.well-known/security.txt", 200, "Contact: mailto:security@caro.health\n", "text/plain; charset=utf-8"},
		{"/notes/", 200, "<p>notes</p>", "text/html; charset=utf-8"},
		{"/.env", 404, "", ""},
		{"/js/../.env", 404, "", ""},
		{"/../outside-web-secret.txt", 404, "", ""},
		{"/%2e%2e/outside-web-secret.txt", 404, "", ""},
		{"/empty/", 404, "", ""},
		{"/empty", 404, "", ""},
		{"/missing.js", 404, "", ""},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", baseURL+tc.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			r := result{resp.StatusCode, resp.Header, b}
			if tc.status == 404 {
				assertJSONError(t, r, 404, "not_found")
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, b)
			}
			if tc.status == 200 && (string(b) != tc.body || r.header.Get("Content-Type") != tc.ctype) {
				t.Fatalf("body %q type %q, want %q %q", b, r.header.Get("Content-Type"), tc.body, tc.ctype)
			}
			assertSecurityHeaders(t, tc.path, r.header)
		})
	}
	assertJSONError(t, do(t, "POST", "/index.html", "x", nil), 405, "method_not_allowed")
}

func TestTokenEndpointRefusesBadRequests(t *testing.T) {
	assertJSONError(t, do(t, "GET", "/dev/token", "", nil), 405, "method_not_allowed")
	assertJSONError(t, do(t, "POST", "/dev/token", `{"sub":"u","tenantId":"t"}`, map[string]string{"Content-Type": "text/plain"}), 415, "unsupported_media_type")
	assertJSONError(t, do(t, "POST", "/dev/token", `{"sub":"u","tenantId":"t","isAdmin":true}`, map[string]string{"Content-Type": "application/json"}), 400, "bad_request")
	assertJSONError(t, do(t, "POST", "/dev/token", `{"tenantId":"t"}`, map[string]string{"Content-Type": "application/json"}), 400, "bad_request")
	r := do(t, "POST", "/dev/token", `{"sub":"u","tenantId":"t"}`, map[string]string{"Content-Type": "application/json"})
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
}

func TestHandlerFailureIsGeneric502(t *testing.T) {
	tok := token(t, `{"sub":"u","tenantId":"t"}`)
	r := do(t, "GET", "/api/fail", "", bearer(tok))
	assertJSONError(t, r, 502, "internal")
	if bytes.Contains(r.body, []byte("10.0.0.7")) || bytes.Contains(r.body, []byte("stack")) {
		t.Fatalf("internal detail leaked: %s", r.body)
	}
}

func TestBinaryAndMultiValueResponse(t *testing.T) {
	tok := token(t, `{"sub":"u","tenantId":"t"}`)
	r := do(t, "GET", "/api/binary", "", bearer(tok))
	if !bytes.Equal(r.body, []byte{0, 1, 2}) || strings.Join(r.header.Values("Set-Thing"), ",") != "a,b" {
		t.Fatalf("body %v headers %v", r.body, r.header)
	}
}

func TestOversizedBodyRefusedBeforeHandler(t *testing.T) {
	tok := token(t, `{"sub":"u","tenantId":"t"}`)
	before := handlerCalls.Load()
	hdr := bearer(tok)
	hdr["Content-Type"] = "application/json"
	r := do(t, "POST", "/api/patients", strings.Repeat("a", MaxPayloadBytes+1), hdr)
	assertJSONError(t, r, 413, "payload_too_large")
	if handlerCalls.Load() != before {
		t.Fatal("handler ran for an oversized body")
	}
}

func TestForeignHostRefused(t *testing.T) {
	// A page on rebind.example that resolves to 127.0.0.1 reaches the runner with its own Host.
	for _, host := range []string{"rebind.example", "rebind.example:" + strings.Split(baseURL, ":")[2], "127.0.0.1:1"} {
		req, _ := http.NewRequest("POST", baseURL+"/dev/token", strings.NewReader(`{"sub":"u","tenantId":"t"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assertJSONError(t, result{resp.StatusCode, resp.Header, b}, http.StatusMisdirectedRequest, "misdirected_request")
		assertSecurityHeaders(t, "misdirected", resp.Header)
	}
	req, _ := http.NewRequest("GET", baseURL+"/", nil)
	req.Host = "localhost:" + strings.Split(baseURL, ":")[2]
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("localhost:port refused: %d", resp.StatusCode)
	}
}

func TestValidateRefusesNonLoopback(t *testing.T) {
	stub := func(context.Context, HandlerEnv) (ProxyHandler, func(), error) { return nil, nil, nil }
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.168.1.10:8080", "example.com:80", "127.0.0.1"} {
		c := Config{Addr: addr, NewHandler: stub}
		if err := c.Validate(); err == nil {
			t.Errorf("addr %q accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:0", "localhost:9000", ""} {
		c := Config{Addr: addr, NewHandler: stub}
		if err := c.Validate(); err != nil {
			t.Errorf("addr %q refused: %v", addr, err)
		}
	}
}

func TestRunReportsAFailedDatabaseStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		done <- Run(ctx, Config{
			Addr: "127.0.0.1:0", ReadyFile: ready,
			StartFerretDB: func(context.Context) (string, func() error, error) {
				return "mongodb://127.0.0.1:27999/", func() error { return errors.New("process would not die") }, nil
			},
			NewHandler: func(context.Context, HandlerEnv) (ProxyHandler, func(), error) {
				return ProxyHandlerFunc(echoHandler), nil, nil
			},
		}, &out, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", errOut.String())
		}
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "would not die") {
		t.Fatalf("Run = %v, want the stop failure", err)
	}
}

func TestRunStartsAndStopsItsOwnDatabase(t *testing.T) {
	var started, stopped atomic.Bool
	var gotEnv HandlerEnv
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		done <- Run(ctx, Config{
			Addr: "127.0.0.1:0", ReadyFile: ready,
			StartFerretDB: func(context.Context) (string, func() error, error) {
				started.Store(true)
				return "mongodb://127.0.0.1:27999/", func() error { stopped.Store(true); return nil }, nil
			},
			NewHandler: func(_ context.Context, env HandlerEnv) (ProxyHandler, func(), error) {
				gotEnv = env
				return ProxyHandlerFunc(echoHandler), nil, nil
			},
		}, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !started.Load() || gotEnv.MongoURI != "mongodb://127.0.0.1:27999/" || gotEnv.Database != "caro" {
		t.Fatalf("started %v env %+v", started.Load(), gotEnv)
	}
	if !strings.Contains(errOut.String(), "ready at http://127.0.0.1:") {
		t.Fatalf("no ready line on stderr: %q", errOut.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !stopped.Load() {
		t.Fatal("FerretDB was not stopped")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatal("ready file not removed")
	}
}

func TestTrafficWatcherRunsOnLocalTraffic(t *testing.T) {
	tok := token(t, `{"sub":"watch-user","tenantId":"t"}`)
	for i := 0; i < 10; i++ {
		do(t, "GET", "/api/patients", "", bearer("forged"+fmt.Sprint(i)))
	}
	do(t, "GET", "/api/patients/%7B%22%24ne%22%3A1%7D", "", bearer(tok))
	do(t, "GET", "/api/signal", "", bearer(tok))
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var a struct {
			Rule string `json:"rule"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alerts file line %q: %v", line, err)
		}
		seen[a.Rule] = true
	}
	if !seen["auth-failures-by-address"] || !seen["injection-attempt"] || !seen["cross-tenant-attempt"] {
		t.Fatalf("alerts raised: %v", seen)
	}
	if strings.Contains(string(b), "127.0.0.1") || strings.Contains(string(b), "watch-user") {
		t.Fatalf("alerts carry the address or subject: %s", b)
	}
}

func TestBasePathInEventPathMimicsCustomDomains(t *testing.T) {
	iss, err := devauth.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	var got events.APIGatewayProxyRequest
	srv, err := NewServer(Options{Issuer: iss, Origin: "http://127.0.0.1:1", BasePathInEventPath: true,
		Handler: ProxyHandlerFunc(func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			got = ev
			return events.APIGatewayProxyResponse{StatusCode: 204}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := iss.Issue(devauth.Request{Subject: "u", TenantID: "t"})
	req := httptest.NewRequest("GET", "/api/patients/abc", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 204 || got.Path != "/api/patients/abc" || got.Resource != "/patients/{id}" || got.PathParameters["id"] != "abc" {
		t.Fatalf("status %d path %q resource %q params %v", rec.Code, got.Path, got.Resource, got.PathParameters)
	}
}
