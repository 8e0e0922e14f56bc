package localrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/accesslog"
	"github.com/carohealth/platform/internal/devauth"
	"github.com/carohealth/platform/internal/headers"
)

// MaxPayloadBytes is API Gateway's request payload limit (10 MB); bigger bodies get 413 before the
// handler runs, as in production.
const MaxPayloadBytes = 10 << 20

// IntegrationTimeout is API Gateway's default integration timeout: a handler that takes longer gets
// a 504, as in production.
const IntegrationTimeout = 29 * time.Second

// TokenPath is where the development token issuer answers (POST). It exists only in the runner.
const TokenPath = "/dev/token"

// Options configure a Server.
type Options struct {
	// Handler is the API handler (the Lambda's code).
	Handler ProxyHandler
	// Issuer signs development tokens and verifies bearer tokens as the Cognito authorizer would.
	Issuer *devauth.Issuer
	// WebDir is the static front end folder (web/); empty or missing means every non-API path is
	// a JSON 404.
	WebDir string
	// Origin is the one origin CORS allows (the app's own, like http://127.0.0.1:8080).
	Origin string
	// AllowedHosts are the Host header values the runner answers (like "127.0.0.1:8080"); any other
	// Host gets 421. This stops DNS rebinding: a web page on another name that resolves to 127.0.0.1
	// cannot use the runner (or mint development tokens) from the developer's browser. Empty means
	// no check (tests driving the Server directly).
	AllowedHosts []string
	// Log receives one line per request (method, path, status, request ID; never tokens or
	// bodies). Nil means no request log.
	Log io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BasePathInEventPath makes the proxy event's path keep the /api prefix, as API Gateway does
	// for a custom domain with a base path mapping (the deployed shape: path "/api/patients/x",
	// resource "/patients/{id}"). Off by default, per contracts.md (the handler sees no prefix);
	// on, it checks that a handler routes correctly behind the real custom domain.
	BasePathInEventPath bool
	// OnAccess, when set, receives after each /api request the access record API Gateway would
	// write in the stage's access log (internal/accesslog), so the traffic watcher runs locally.
	OnAccess func(accesslog.Record)
}

// Server is the local runner's HTTP handler.
type Server struct {
	opts  Options
	web   fs.FS
	logMu sync.Mutex
}

// NewServer checks opts and returns the runner's handler.
func NewServer(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("local runner: no API handler given")
	}
	if opts.Issuer == nil {
		return nil, errors.New("local runner: no token issuer given")
	}
	if opts.Origin == "" || strings.HasSuffix(opts.Origin, "/") || !strings.Contains(opts.Origin, "://") {
		return nil, fmt.Errorf("local runner: origin %q is not a scheme://host[:port] origin: pass --origin like http://127.0.0.1:8080", opts.Origin)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	if opts.WebDir != "" {
		// os.Root confines every open to the folder, symlinks included.
		if root, err := os.OpenRoot(opts.WebDir); err == nil {
			s.web = root.FS()
		}
	}
	return s, nil
}

// errorBody is the platform's JSON error shape.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message, requestID string) {
	writeJSON(w, status, errorBody{Error: code, Message: message, RequestID: requestID})
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP routes /api/... to the handler, /dev/token to the issuer and the rest to web/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	requestID := newRequestID()
	rec := &statusRecorder{ResponseWriter: w}
	h := w.Header()
	// Security headers go on first and again after a handler's own headers (see serveAPI), so every
	// response, errors included, carries exactly the shared definition.
	headers.Security().Apply(h)
	h.Set("X-Amzn-RequestId", requestID)
	h.Add("Vary", "Origin")

	var apiPath, subject string
	isAPI := false
	defer func() {
		if isAPI && s.opts.OnAccess != nil {
			s.opts.OnAccess(s.accessRecord(r, apiPath, subject, requestID, rec.status, start))
		}
		if s.opts.Log != nil {
			s.logMu.Lock()
			fmt.Fprintf(s.opts.Log, "%s %s %s %d %s %dms\n", start.UTC().Format(time.RFC3339), r.Method,
				logPath(r.URL.Path), rec.status, requestID, s.opts.Now().Sub(start).Milliseconds())
			s.logMu.Unlock()
		}
	}()

	if !s.hostAllowed(r.Host) {
		writeError(rec, http.StatusMisdirectedRequest, "misdirected_request",
			"this server answers only its own loopback address; open the URL that `caro local up` printed", requestID)
		return
	}
	if !s.cors(rec, r, requestID) {
		return
	}
	if apiPath, isAPI = stripPrefix(r.URL.Path); isAPI {
		subject = s.serveAPI(rec, r, apiPath, requestID)
		return
	}
	if r.URL.Path == TokenPath {
		s.serveToken(rec, r, requestID)
		return
	}
	s.serveStatic(rec, r, requestID)
}

// logPath keeps the request log free of anything but the path's shape: IDs are not personal data,
// but query strings may be, so they are never logged.
func logPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "..."
	}
	return p
}

func (s *Server) hostAllowed(host string) bool {
	if len(s.opts.AllowedHosts) == 0 {
		return true
	}
	for _, h := range s.opts.AllowedHosts {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// cors applies the CORS policy: only the app's own origin is allowed. It answers preflights itself
// and returns false when the request is finished.
func (s *Server) cors(w http.ResponseWriter, r *http.Request, requestID string) bool {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && origin == s.opts.Origin
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	isPreflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !isPreflight {
		return true
	}
	if !allowed {
		writeError(w, http.StatusForbidden, "cors_origin_refused",
			"cross-origin requests are allowed only from the app's own origin", requestID)
		return false
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false
}

// bearerToken returns the token of the Authorization header. Like the Cognito authorizer, it takes
// the raw token or "Bearer <token>".
func bearerToken(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return v
}

// accessRecord renders the access-log record of an API request in accesslog.Format's fields.
func (s *Server) accessRecord(r *http.Request, apiPath, subject, requestID string, status int, start time.Time) accesslog.Record {
	dash := func(v string) string {
		if v == "" {
			return accesslog.Absent
		}
		return v
	}
	resource, _ := matchRoute(apiPath)
	return accesslog.Record{
		RequestID: requestID, Time: fmt.Sprint(start.UnixMilli()), IP: clientIP(r), UserAgent: dash(r.UserAgent()),
		Sub: dash(subject), HTTPMethod: r.Method, ResourcePath: resource, Path: APIPrefix + apiPath,
		Status: fmt.Sprint(status), ResponseType: accesslog.Absent, WAF: accesslog.Absent,
		IntegrationStatus: accesslog.Absent, ResponseLength: accesslog.Absent,
	}
}

// serveAPI authenticates and forwards one API request; it returns the authenticated subject ("" when
// none) for the access record.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, apiPath, requestID string) string {
	resource, _ := matchRoute(apiPath)
	var claims map[string]interface{}
	sub := ""
	if !PublicRoutes[r.Method+" "+resource] {
		tok := bearerToken(r)
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="caro-local"`)
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"no token: send Authorization: Bearer <token> (get one from POST /dev/token)", requestID)
			return ""
		}
		c, err := s.opts.Issuer.Verify(tok)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="caro-local", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error()+": sign in again", requestID)
			return ""
		}
		claims = c.AuthorizerClaims()
		sub = c.Subject
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read", requestID)
		return sub
	}
	if len(body) > MaxPayloadBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("the request body is larger than %d bytes", MaxPayloadBytes), requestID)
		return sub
	}

	ev := ToProxyRequest(r, apiPath, body, requestID, claims, s.opts.Now())
	if s.opts.BasePathInEventPath {
		ev.Path = APIPrefix + apiPath
	}
	ctx, cancel := context.WithTimeout(r.Context(), IntegrationTimeout)
	defer cancel()
	resp, err := s.opts.Handler.Handle(ctx, ev)
	if err != nil {
		// As API Gateway does for a failed invocation: a generic 502, details only in the log.
		if s.opts.Log != nil {
			s.logMu.Lock()
			fmt.Fprintf(s.opts.Log, "handler error for request %s: %v\n", requestID, err)
			s.logMu.Unlock()
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			writeError(w, http.StatusGatewayTimeout, "timeout", "the API did not answer in time", requestID)
			return sub
		}
		writeError(w, http.StatusBadGateway, "internal", "the API failed; the request ID is in the runner's log", requestID)
		return sub
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		writeError(w, http.StatusBadGateway, "internal", "the API returned an invalid status", requestID)
		return sub
	}
	out, err := writeProxyResponse(w, resp)
	if err != nil {
		writeError(w, http.StatusBadGateway, "internal", "the API returned a malformed response", requestID)
		return sub
	}
	headers.Security().Apply(w.Header())
	// The handler cannot widen CORS either: only the runner's decision stands.
	w.Header().Del("Access-Control-Allow-Origin")
	w.Header().Del("Access-Control-Allow-Credentials")
	if o := r.Header.Get("Origin"); o != "" && o == s.opts.Origin {
		w.Header().Set("Access-Control-Allow-Origin", o)
	}
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
	return sub
}

// tokenResponse is the body of a successful POST /dev/token.
type tokenResponse struct {
	Token     string   `json:"token"`
	TokenType string   `json:"tokenType"`
	ExpiresAt string   `json:"expiresAt"`
	Issuer    string   `json:"issuer"`
	Audience  string   `json:"audience"`
	Subject   string   `json:"sub"`
	TenantID  string   `json:"tenantId"`
	Roles     []string `json:"roles"`
	DevOnly   bool     `json:"devOnly"`
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, requestID string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST "+TokenPath, requestID)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the token request as Content-Type: application/json", requestID)
		return
	}
	req, err := devauth.ParseRequest(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), requestID)
		return
	}
	tok, c, err := s.opts.Issuer.Issue(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error(), requestID)
		return
	}
	roles := c.RoleList()
	if roles == nil {
		roles = []string{}
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		Token: tok, TokenType: "Bearer", ExpiresAt: time.Unix(c.Expires, 0).UTC().Format(time.RFC3339),
		Issuer: c.Issuer, Audience: c.Audience, Subject: c.Subject, TenantID: c.TenantID, Roles: roles, DevOnly: true,
	})
}

// serveStatic serves a file of the front end. Directory listings are never produced; a folder is
// served only through its index.html. Dot-segments other than .well-known (RFC 8615) are refused,
// so nothing like .git or .env in the folder ever leaves it.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, requestID string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "static files are read-only: use GET", requestID)
		return
	}
	name, ok := staticName(r.URL.Path)
	if !ok || s.web == nil {
		writeError(w, http.StatusNotFound, "not_found", "there is no file at this path", requestID)
		return
	}
	f, info, err := s.open(name)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "there is no file at this path", requestID)
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "the file cannot be served", requestID)
		return
	}
	if path.Base(info.Name()) == "security.txt" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, info.Name(), info.ModTime(), rs)
}

// open opens name, or name/index.html when name is a folder.
func (s *Server) open(name string) (fs.File, fs.FileInfo, error) {
	for _, candidate := range []string{name, path.Join(name, "index.html")} {
		f, err := s.web.Open(candidate)
		if err != nil {
			return nil, nil, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if info.Mode().IsRegular() {
			return f, info, nil
		}
		f.Close()
		if !info.IsDir() {
			break
		}
	}
	return nil, nil, fs.ErrNotExist
}

// staticName maps a URL path to a file name inside web/, refusing traversal and hidden files.
func staticName(urlPath string) (string, bool) {
	if strings.Contains(urlPath, "\x00") || strings.Contains(urlPath, "\\") {
		return "", false
	}
	for _, seg := range strings.Split(urlPath, "/") {
		if seg == ".." {
			return "", false
		}
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			return "", false
		}
	}
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" {
		name = "."
	}
	return name, fs.ValidPath(name)
}
