package health

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/headers/headerstest"
	"github.com/carohealth/platform/internal/localstack"
)

var (
	testClient *mongo.Client
	testURI    string
)

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(uri string, client *mongo.Client) error {
		testURI, testClient = uri, client
		return nil
	}))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func get(t *testing.T, c *Checker, method, path string) (events.APIGatewayProxyResponse, Status) {
	t.Helper()
	resp, err := c.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: method, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var s Status
	if (resp.StatusCode == 200 || resp.StatusCode == 503) && method != "HEAD" {
		dec := json.NewDecoder(strings.NewReader(resp.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("body %q: %v", resp.Body, err)
		}
	}
	return resp, s
}

func TestHealthWithoutAndWithMarker(t *testing.T) {
	db := testClient.Database("health_marker")
	c := New(Config{DB: db, Region: "eu-west-1", Version: "v1.2.3", Logger: quiet()})
	resp, s := get(t, c, "GET", "/health")
	if resp.StatusCode != 200 || s.Status != "ok" || s.Database != "ok" || s.Region != "eu-west-1" || s.Version != "v1.2.3" || s.Restore != nil {
		t.Fatalf("%d %+v", resp.StatusCode, s)
	}
	at := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	_, err := db.Collection(MarkerCollection).InsertOne(context.Background(), bson.D{{Key: "_id", Value: MarkerID},
		{Key: "backup_id", Value: "b-1"}, {Key: "plan_id", Value: "p-1"}, {Key: "documents", Value: int64(42)},
		{Key: "restored_at", Value: at}, {Key: "from", Value: "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, s = get(t, c, "GET", "/health")
	if resp.StatusCode != 200 || s.Restore == nil || s.Restore.BackupID != "b-1" || s.Restore.PlanID != "p-1" ||
		!s.Restore.RestoredAt.Equal(at) || s.Restore.From != "eu-west-1" || s.Restore.Documents != 42 {
		t.Fatalf("%d %+v", resp.StatusCode, s.Restore)
	}
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Fatal("health response may be cached")
	}
	if resp, _ := get(t, c, "GET", "/api/health"); resp.StatusCode != 200 {
		t.Fatalf("GET /api/health (custom domain base path) %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, "HEAD", "/health"); resp.StatusCode != 200 || resp.Body != "" {
		t.Fatalf("HEAD %d %q", resp.StatusCode, resp.Body)
	}
	if resp, _ := get(t, c, "POST", "/health"); resp.StatusCode != 405 {
		t.Fatalf("POST %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, "GET", "/patients"); resp.StatusCode != 404 {
		t.Fatalf("other path %d", resp.StatusCode)
	}
}

func TestHealthDatabaseDownRevealsNothing(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(testURI))
	if err != nil {
		t.Fatal(err)
	}
	_ = client.Disconnect(context.Background())
	var logs strings.Builder
	c := New(Config{DB: client.Database("x"), Region: "eu-central-1", Version: "v1", Timeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	resp, s := get(t, c, "GET", "/health")
	if resp.StatusCode != 503 || s.Status != "unavailable" || s.Database != "unreachable" {
		t.Fatalf("%d %+v", resp.StatusCode, s)
	}
	if strings.Contains(resp.Body, "127.0.0.1") || strings.Contains(resp.Body, "disconnect") || strings.Contains(resp.Body, "mongodb") {
		t.Fatalf("body reveals detail: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "health check failed") {
		t.Fatal("failure not logged")
	}
}

// TestEveryAnswerCarriesTheSecurityHeaders (issue 17 item 3): on the regional API domains the health
// function's answers reach the client without CloudFront, so each one (200, 503, HEAD, 404, 405, and
// /auth/config's) carries the platform's security headers itself, each with its exact value.
func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	up := New(Config{DB: testClient.Database("health_headers"), Region: "eu-west-1", Version: "v1", Logger: quiet()})
	down := New(Config{Logger: quiet()})
	withSignIn := New(Config{DB: testClient.Database("health_headers"), Logger: quiet(),
		SignIn: SignInConfig{Region: "eu-west-1", UserPoolID: "eu-west-1_AbCdEf123", ClientID: "1a2b3c4d5e6f7g8h9i0j1k2l3m"}})
	for _, c := range []struct {
		name         string
		c            *Checker
		method, path string
		status       int
	}{
		{"health 200", up, "GET", "/health", 200},
		{"health via base path", up, "GET", "/api/health", 200},
		{"health HEAD", up, "HEAD", "/health", 200},
		{"health 503", down, "GET", "/health", 503},
		{"health 405", up, "POST", "/health", 405},
		{"unknown path 404", up, "GET", "/nope", 404},
		{"auth config 404 (unset)", up, "GET", AuthConfigPath, 404},
		{"auth config 200", withSignIn, "GET", AuthConfigPath, 200},
	} {
		resp, err := c.c.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: c.method, Path: c.path,
			RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1"}})
		if err != nil || resp.StatusCode != c.status {
			t.Fatalf("%s: %d %v, want %d (%s)", c.name, resp.StatusCode, err, c.status, resp.Body)
		}
		headerstest.Check(t, c.name, headerstest.Lookup(resp.Headers))
		if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Content-Type"] != "application/json; charset=utf-8" {
			t.Errorf("%s: %v", c.name, resp.Headers)
		}
	}
}
