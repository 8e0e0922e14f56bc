// Package health answers GET /health: is the database reachable, which region and version serve,
// and the restore marker the failover verification reads. It is unauthenticated and cheap (one ping
// and one find by _id, each bounded), and reveals nothing sensitive: no error text, no host names, no
// counts of patient data.
//
// The same function answers GET /auth/config, the serving region's user pool and web client the
// front end signs in against (SignInConfig): unauthenticated too, and cheaper still (no I/O).
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// The restore marker every restore writes when it completes (internal/restore: MarkerCollection,
// Marker, which embeds RestoreMarker). The _caro_ prefix keeps the collection out of backups, so a
// restored region never inherits the source region's marker.
const (
	MarkerCollection = "_caro_failover"
	MarkerID         = "restore"
)

// RestoreMarker is the last completed restore into this region: the part of the marker /health
// reports, in the writer's field names. It is the one definition of these fields: restore.Marker
// embeds it (this package stays free of the restore protocol's dependencies, so the health
// function stays small).
type RestoreMarker struct {
	// BackupID is the backup (or Atlas snapshot) last restored completely; empty before the first.
	BackupID   string    `bson:"backup_id" json:"backup_id"`
	PlanID     string    `bson:"plan_id" json:"plan_id"`
	Documents  int64     `bson:"documents" json:"documents"`
	RestoredAt time.Time `bson:"restored_at" json:"restored_at"`
	From       string    `bson:"from" json:"from"`
}

// Status is the /health body.
type Status struct {
	// Status is "ok" when the database answered, else "unavailable" (with HTTP 503).
	Status string `json:"status"`
	// Database is "ok" or "unreachable".
	Database string `json:"database"`
	Region   string `json:"region"`
	Version  string `json:"version"`
	// Restore is the restore marker, absent when this region was never restored into.
	Restore *RestoreMarker `json:"restore,omitempty"`
}

// Config is what the health check needs.
type Config struct {
	// DB is the platform database.
	DB *mongo.Database
	// Region (env CARO_REGION) and Version (env CARO_VERSION) are reported as they are.
	Region, Version string
	// Timeout bounds the whole check (default 2s).
	Timeout time.Duration
	// Logger receives the failure detail that the response leaves out.
	Logger *slog.Logger
	// SignIn is served on GET /auth/config (SignInConfigFrom). Unset (the local runner): 404.
	// Set but invalid: New logs why, /health keeps working, and /auth/config answers 503.
	SignIn SignInConfig
}

// Checker runs the health check.
type Checker struct {
	cfg       Config
	signInErr error
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	c := &Checker{cfg: cfg}
	if cfg.SignIn.Configured() {
		// A wrong pool must not take the region's health check (and so its failover) down with it.
		if c.signInErr = cfg.SignIn.Validate(); c.signInErr != nil {
			cfg.Logger.Error("sign-in configuration is invalid: GET /auth/config answers 503 until it is fixed", "error", c.signInErr.Error())
		}
	}
	return c
}

// SignInError is why the configured sign-in values were refused (nil when valid or unset).
func (c *Checker) SignInError() error { return c.signInErr }

// Check pings the database and reads the restore marker; the int is the HTTP status (200 or 503).
func (c *Checker) Check(ctx context.Context) (Status, int) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	s := Status{Status: "ok", Database: "ok", Region: c.cfg.Region, Version: c.cfg.Version}
	fail := func(what string, err error) (Status, int) {
		c.cfg.Logger.Error("health check failed", "step", what, "error", err.Error())
		s.Status, s.Database, s.Restore = "unavailable", "unreachable", nil
		return s, http.StatusServiceUnavailable
	}
	if c.cfg.DB == nil {
		return fail("config", errors.New("no database configured"))
	}
	if err := c.cfg.DB.Client().Ping(ctx, readpref.PrimaryPreferred()); err != nil {
		return fail("ping", err)
	}
	var m RestoreMarker
	err := c.cfg.DB.Collection(MarkerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: MarkerID}}).Decode(&m)
	switch {
	case err == nil:
		m.RestoredAt = m.RestoredAt.UTC()
		s.Restore = &m
	case errors.Is(err, mongo.ErrNoDocuments):
	default:
		return fail("restore marker", err)
	}
	return s, http.StatusOK
}

// Handle serves GET (and HEAD) /health and /auth/config as API Gateway proxy requests.
func (c *Checker) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := safeID(req.RequestContext.RequestID)
	// Through the custom domain's base path mapping the path keeps its /api prefix.
	switch strings.TrimPrefix(req.Path, "/api") {
	case "/health":
	case AuthConfigPath:
		return c.handleSignInConfig(req), nil
	default:
		return errorResponse(id, http.StatusNotFound, "not_found", "only /health and "+AuthConfigPath+" are served here"), nil
	}
	if req.HTTPMethod != http.MethodGet && req.HTTPMethod != http.MethodHead {
		resp := errorResponse(id, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		resp.Headers["Allow"] = "GET, HEAD"
		return resp, nil
	}
	s, code := c.Check(ctx)
	b, _ := json.Marshal(s)
	if req.HTTPMethod == http.MethodHead {
		b = nil
	}
	return events.APIGatewayProxyResponse{StatusCode: code, Headers: baseHeaders(id), Body: string(b)}, nil
}

// safeID keeps a request ID only if it is plain (API Gateway's are), so nothing is echoed unescaped.
func safeID(s string) string {
	if len(s) > 128 {
		return ""
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return ""
		}
	}
	return s
}
