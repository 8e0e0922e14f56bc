package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/restore"
)

// Health is the /health answer.
type Health struct {
	Status string `json:"status"`
	Region string `json:"region"`
	// Restore is the restore marker (internal/restore), absent before the first completed restore.
	Restore *restore.Marker `json:"restore,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// HealthHandler answers GET /health (and /api/health, as the local runner strips /api) for one
// region: 200 with the restore marker when the region's database answers, 503 otherwise.
//
// It stands in for the API's health handler (lambdas/health is a placeholder without database or
// restore marker yet); it reads the same marker collection a real handler should report.
func HealthHandler(region string, db *mongo.Database) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers.Security().Apply(w.Header())
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/health" && r.URL.Path != "/api/health" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"not found"}`)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		h := Health{Status: "ok", Region: region}
		m, err := restore.ReadMarker(ctx, db)
		switch {
		case err != nil:
			h.Status, h.Error = "unavailable", "database: "+err.Error()
			w.WriteHeader(http.StatusServiceUnavailable)
		case m != nil && m.BackupID != "":
			m.InProgress = nil
			h.Restore = m
		}
		_ = json.NewEncoder(w).Encode(h)
	})
}

// Serve runs a region's API (health) on its loopback address until ctx ends.
func Serve(ctx context.Context, env *Env, region string) error {
	r, err := env.Region(region)
	if err != nil {
		return err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(r.MongoURI).SetTimeout(5 * time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	ln, err := net.Listen("tcp", net.JoinHostPort(r.IP, strconv.Itoa(r.APIPort)))
	if err != nil {
		return fmt.Errorf("region %s API: listen on %s:%d: %w", region, r.IP, r.APIPort, err)
	}
	srv := &http.Server{Handler: HealthHandler(region, client.Database(env.Database)), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// GetHealth asks a region's API for /health.
func GetHealth(ctx context.Context, base string) (*Health, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, fmt.Errorf("%s/health: %d, not JSON: %w", base, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &h, fmt.Errorf("%s/health: %d %s %s", base, resp.StatusCode, h.Status, h.Error)
	}
	return &h, nil
}
