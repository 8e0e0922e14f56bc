// Package health answers GET /health: is the database reachable, which region and version serve,
// and the restore marker the failover verification reads. It is unauthenticated and cheap (one ping
// and one find by _id, each bounded), and reveals nothing sensitive: no error text, no host names, no
// counts of patient data.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// The restore marker the failover restore step writes after a verified restore (see
// internal/providers/local: MarkerCollection, RestoreMarker). The _caro_ prefix keeps the collection
// out of backups, so a restored region never inherits the source region's marker.
const (
	MarkerCollection = "_caro_failover"
	MarkerID         = "restore"
)

// RestoreMarker is the last restore into this region, in the writer's field names.
type RestoreMarker struct {
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
}

// Checker runs the health check.
type Checker struct {
	cfg Config
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return &Checker{cfg: cfg}
}

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

// Handle serves GET (and HEAD) /health as an API Gateway proxy request.
func (c *Checker) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	hdr := map[string]string{"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff"}
	// Through the custom domain's base path mapping the path keeps its /api prefix.
	if req.Path != "/health" && req.Path != "/api/health" {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusNotFound, Headers: hdr,
			Body: `{"error":"not_found","message":"only /health is served here","requestId":"` + safeID(req.RequestContext.RequestID) + `"}`}, nil
	}
	if req.HTTPMethod != http.MethodGet && req.HTTPMethod != http.MethodHead {
		hdr["Allow"] = "GET, HEAD"
		return events.APIGatewayProxyResponse{StatusCode: http.StatusMethodNotAllowed, Headers: hdr,
			Body: `{"error":"method_not_allowed","message":"use GET","requestId":"` + safeID(req.RequestContext.RequestID) + `"}`}, nil
	}
	s, code := c.Check(ctx)
	b, _ := json.Marshal(s)
	if req.HTTPMethod == http.MethodHead {
		b = nil
	}
	return events.APIGatewayProxyResponse{StatusCode: code, Headers: hdr, Body: string(b)}, nil
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
