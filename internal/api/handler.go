// Package api is the platform API behind API Gateway: one Lambda handler that routes on method and
// path, authenticates the principal from the Cognito authorizer's claims, checks the route's action
// against the access policy before touching any data, reads and writes only through the principal's
// tenant-scoped store, and writes each change together with its audit event (outbox).
package api

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/strictjson"
	"github.com/carohealth/platform/internal/tenancy"
	"github.com/carohealth/platform/internal/tenant/status"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is zero (64 KiB: a note of
// 10000 characters in any script fits).
const DefaultMaxBodyBytes = 64 << 10

// OriginHeader is the header CloudFront adds with the origin secret.
const OriginHeader = "X-Caro-Origin-Verify"

// Config is what the handler needs.
type Config struct {
	// DB is the platform database (env CARO_DATABASE on the connection from CARO_MONGODB_URI*).
	DB *mongo.Database
	// Publisher, when set, publishes each audit event right after its change is stored, so events
	// reach the topic within the request. When it is nil or fails, the event stays in the outbox
	// and the reconciler publishes it.
	Publisher audit.Publisher
	// OriginSecret, when not empty, must equal the X-Caro-Origin-Verify header (env
	// CARO_ORIGIN_SECRET): requests that bypassed CloudFront are refused with 403.
	OriginSecret string
	// MaxBodyBytes limits the request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int
	// KeyPoolSize is how many new patient IDs with stored subject keys are allocated per tenant in
	// one round trip (default DefaultKeyPoolSize; 1 or less allocates one per create).
	KeyPoolSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Erasures records every erasure outside the database before anything is erased (the erasure
	// register in the region's backup bucket, env CARO_ERASURE_BUCKET), so restores apply it again.
	// Nil refuses DELETE /subjects/{id} with 503 erasure_register_unavailable: an erasure a
	// restore could undo is not offered.
	Erasures erasure.Recorder
	// Logger receives one line per request (IDs, route, status; never bodies or personal data).
	Logger *slog.Logger
	// Maintenance is the cached view of the maintenance switch (internal/maintenance) that the
	// writing routes consult; default a Gate on DB. While the switch is on, or cannot be read,
	// writes answer 503 with Retry-After and reads keep working.
	Maintenance *maintenance.Gate
	// Tenants is the cached view of the offboarded tenants (internal/tenant/status); default a Gate
	// on DB. Every request of a tenant being or having been offboarded (`caro tenant delete`) is
	// refused like one without a valid identity (401), so nothing is read or written back during
	// or after the offboarding; a status that cannot be read refuses the request (500).
	Tenants *status.Gate
}

// Handler serves the API. Make it with NewHandler; it is safe for concurrent use.
type Handler struct {
	db        *mongo.Database
	keys      *audit.SubjectKeys
	pool      *keyPool
	pub       audit.Publisher
	erasures  erasure.Recorder
	gate      *maintenance.Gate
	tenants   *status.Gate
	originSec string
	maxBody   int
	now       func() time.Time
	log       *slog.Logger
	// indexed is set once EnsureIndexes has created the indexes in this process.
	indexed atomic.Bool
}

// NewHandler checks cfg and returns the handler. Call EnsureIndexes once per process start (the
// scheduled run calls it again while it has not succeeded: it waits while the maintenance switch is on).
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.DB == nil {
		return nil, errors.New("api: Config.DB is required")
	}
	h := &Handler{db: cfg.DB, keys: audit.NewSubjectKeys(cfg.DB), pub: cfg.Publisher, erasures: cfg.Erasures, originSec: cfg.OriginSecret,
		maxBody: cfg.MaxBodyBytes, now: cfg.Now, log: cfg.Logger, gate: cfg.Maintenance, tenants: cfg.Tenants}
	if h.gate == nil {
		h.gate = &maintenance.Gate{DB: cfg.DB}
	}
	if h.tenants == nil {
		h.tenants = &status.Gate{DB: cfg.DB}
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	poolSize := cfg.KeyPoolSize
	if poolSize == 0 {
		poolSize = DefaultKeyPoolSize
	}
	h.pool = newKeyPool(h.keys, poolSize)
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return h, nil
}

// reqCtx is one request as the operations see it.
type reqCtx struct {
	ctx       context.Context
	requestID string
	route     *route
	id        string
	query     map[string]string
	body      []byte
	store     *tenancy.Store
	principal tenancy.Principal
}

// Handle serves one API Gateway proxy request. It never returns an error: every failure is a JSON
// error response (5xx only for real faults, with a generic message; the detail goes to the log).
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	start := time.Now()
	req.Path = RoutePath(req.Path)
	requestID := req.RequestContext.RequestID
	if !plainRequestID(requestID) {
		requestID = NewID()
	}
	status := 0
	var fault error
	defer func() {
		if p := recover(); p != nil {
			fault = fmt.Errorf("panic: %v", p)
			resp, status = h.errorResponse(requestID, errInternal), http.StatusInternalServerError
		}
		attrs := []any{"requestId", requestID, "method", safeMethod(req.HTTPMethod), "status", status,
			"ms", time.Since(start).Milliseconds()}
		if rt, _, _, _ := match(req.HTTPMethod, req.Path); rt != nil {
			attrs = append(attrs, "route", rt.Pattern)
		}
		if fault != nil {
			attrs = append(attrs, "fault", fault.Error())
			h.log.Error("api request failed", attrs...)
		} else {
			h.log.Info("api request", attrs...)
		}
		err = nil
	}()

	code, body, rerr := h.serve(ctx, req, requestID)
	if rerr != nil {
		var ae *apiError
		if !errors.As(rerr, &ae) {
			fault, ae = rerr, errInternal
		}
		status = ae.Status
		h.emitSignal(req, requestID, ae)
		if ae.Code == codeOriginMissing || ae.Code == codeOriginUnknown {
			// The client sees the plain forbidden code; the distinction is for the watcher only.
			ae = &apiError{Status: ae.Status, Code: CodeForbidden, Message: ae.Message}
		}
		resp = h.errorResponse(requestID, ae)
		if ae.Code == CodeMaintenance || ae.Code == CodeMaintenanceUnknown {
			resp.Headers["Retry-After"] = strconv.Itoa(int(maintenance.RetryAfter.Seconds()))
		}
		if ae.Status == http.StatusMethodNotAllowed {
			_, _, _, allowed := match(req.HTTPMethod, req.Path)
			resp.Headers["Allow"] = strings.Join(allowed, ", ")
		}
		return resp, nil
	}
	status = code
	return h.jsonResponse(requestID, code, body), nil
}

func (h *Handler) serve(ctx context.Context, req events.APIGatewayProxyRequest, requestID string) (int, any, error) {
	if h.originSec != "" {
		got := header(req, OriginHeader)
		if got == "" {
			return 0, nil, errorf(http.StatusForbidden, codeOriginMissing, "requests must come through the platform's CloudFront distribution")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(h.originSec)) != 1 {
			return 0, nil, errorf(http.StatusForbidden, codeOriginUnknown, "requests must come through the platform's CloudFront distribution")
		}
	}
	rt, id, found, _ := match(req.HTTPMethod, req.Path)
	if rt == nil {
		if found {
			return 0, nil, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s is not allowed on this path", strictjson.Quote(req.HTTPMethod))
		}
		return 0, nil, errorf(http.StatusNotFound, CodeNotFound, "no such route; see docs/api.md for the API's routes")
	}
	// Authenticate, then authorize, before anything else about the request is looked at.
	p, err := tenancy.PrincipalFromClaims(tenancy.ClaimsFromAuthorizer(req.RequestContext.Authorizer))
	if err != nil {
		return 0, nil, errUnauthenticated
	}
	if !p.Can(rt.Action) {
		return 0, nil, errorf(http.StatusForbidden, CodeForbidden, "your roles do not allow %s; ask your tenant administrator for access", rt.Action)
	}
	if rt.Writes {
		if err := h.writesAllowed(ctx); err != nil {
			return 0, nil, err
		}
	}
	if err := h.tenantActive(ctx, p.TenantID); err != nil {
		return 0, nil, err
	}
	if rt.Pattern != "/patients" && !ValidID(id) {
		return 0, nil, errorf(http.StatusBadRequest, CodeInvalidID, "the ID in the path must be 32 lowercase hex characters")
	}
	query, qerr := checkQuery(req, rt.Query)
	if qerr != nil {
		return 0, nil, qerr
	}
	body, berr := h.readBody(req, rt.Body)
	if berr != nil {
		return 0, nil, berr
	}
	store, err := tenancy.Open(h.db, p)
	if err != nil {
		return 0, nil, err
	}
	return rt.op(h, &reqCtx{ctx: ctx, requestID: requestID, route: rt, id: id, query: query, body: body, store: store, principal: p})
}

// errUnauthenticated answers a request without a valid identity, and every request of an
// offboarded tenant: the same answer, so it tells nothing about the tenant.
var errUnauthenticated = errorf(http.StatusUnauthorized, CodeUnauthenticated, "sign in again: the request carries no valid identity")

// tenantActive refuses the requests of a tenant being or having been offboarded. It fails closed:
// a status that cannot be read (a database fault) refuses the request with the generic 500, since
// serving it could write back into a tenant being deleted.
func (h *Handler) tenantActive(ctx context.Context, tenantID string) error {
	refused, err := h.tenants.Refused(ctx, tenantID)
	if err != nil {
		h.log.Error("tenant status unreadable; request refused", "fault", err.Error())
		return errInternal
	}
	if refused {
		return errUnauthenticated
	}
	return nil
}

// writesAllowed consults the maintenance switch before a writing route touches anything. It fails
// closed: a switch that cannot be read refuses the write like a switch that is on.
func (h *Handler) writesAllowed(ctx context.Context) error {
	state, err := h.gate.Current(ctx)
	if err != nil {
		h.log.Error("maintenance switch unreadable; writes refused", "fault", err.Error())
		return errMaintenanceUnknown
	}
	if state != nil {
		return errMaintenance
	}
	return nil
}

// header reads a request header case-insensitively from the single- and multi-value maps.
func header(req events.APIGatewayProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// checkQuery accepts only the route's known query parameters, each at most once.
func checkQuery(req events.APIGatewayProxyRequest, allowed []string) (map[string]string, error) {
	out := map[string]string{}
	for k, vs := range req.MultiValueQueryStringParameters {
		if len(vs) > 1 {
			return nil, errorf(http.StatusBadRequest, CodeInvalidQuery, "query parameter %s is given more than once", strictjson.Quote(k))
		}
	}
	for k, v := range req.QueryStringParameters {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return nil, errorf(http.StatusBadRequest, CodeInvalidQuery, "unknown query parameter %s", strictjson.Quote(k))
		}
		out[k] = v
	}
	return out, nil
}

// readBody enforces the content type and size limit; routes without a body refuse one.
func (h *Handler) readBody(req events.APIGatewayProxyRequest, wantBody bool) ([]byte, error) {
	if !wantBody {
		if req.Body != "" {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest, "this route takes no request body")
		}
		return nil, nil
	}
	ct := header(req, "Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "send the body as Content-Type: application/json")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "only the charset=utf-8 parameter is accepted on Content-Type")
		}
	}
	// Refuse before decoding anything longer than the base64 encoding of the limit.
	if len(req.Body) > base64.StdEncoding.EncodedLen(h.maxBody) {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is larger than %d bytes", h.maxBody)
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		body, err = base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodeBadRequest, "the request body is not valid base64")
		}
	}
	if len(body) > h.maxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is larger than %d bytes", h.maxBody)
	}
	return body, nil
}

// securityHeaders is the platform's security header set (internal/headers). Every response carries
// it itself: CloudFront's response-headers policy sets the same values, but a response on the
// regional API domains does not pass through CloudFront.
var securityHeaders = headers.Security().Map()

func baseHeaders(requestID string) map[string]string {
	h := maps.Clone(securityHeaders)
	h["Content-Type"] = "application/json; charset=utf-8"
	h["Cache-Control"] = "no-store"
	h["X-Request-Id"] = requestID
	return h
}

func (h *Handler) jsonResponse(requestID string, status int, body any) events.APIGatewayProxyResponse {
	if body == nil {
		return events.APIGatewayProxyResponse{StatusCode: status, Headers: baseHeaders(requestID)}
	}
	b, err := json.Marshal(body)
	if err != nil {
		h.log.Error("api response encoding failed", "requestId", requestID, "fault", err.Error())
		return h.errorResponse(requestID, errInternal)
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: baseHeaders(requestID), Body: string(b)}
}

func (h *Handler) errorResponse(requestID string, e *apiError) events.APIGatewayProxyResponse {
	b, _ := json.Marshal(ErrorResponse{Error: e.Code, Message: e.Message, RequestID: requestID})
	return events.APIGatewayProxyResponse{StatusCode: e.Status, Headers: baseHeaders(requestID), Body: string(b)}
}

// plainRequestID accepts API Gateway's request IDs (UUIDs) and similar plain tokens only, so the ID
// echoed in bodies, headers and logs can never carry markup or line breaks.
func plainRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// BasePath is the public path prefix of the API (CloudFront behavior /api/*, API Gateway base path
// mapping "api").
const BasePath = "/api"

// RoutePath is the path the routes match: without the /api prefix. Through the API Gateway custom
// domain with base path mapping "api", a REST API proxy event's path still carries the prefix
// ("/api/patients"); through the execute-api endpoint and the local runner it does not.
func RoutePath(p string) string {
	if p == BasePath {
		return "/"
	}
	if strings.HasPrefix(p, BasePath+"/") {
		return p[len(BasePath):]
	}
	return p
}
