package api

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
)

// countingRegister counts erasure registrations and keeps them in the test register.
type countingRegister struct {
	mu sync.Mutex
	n  int
}

func (c *countingRegister) Record(ctx context.Context, e erasure.Erasure) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return register.Record(ctx, e)
}

// fakeClock is a settable clock for the maintenance gate's cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestMaintenanceRefusesWritesKeepsReads: while the switch is on, every writing route (each POST, PUT
// and DELETE, subject erasure and the audited export included) answers 503 maintenance with
// Retry-After and changes nothing, not even the erasure register; every read answers as before.
// Turned off, writes work again once the gate's cache expires.
func TestMaintenanceRefusesWritesKeepsReads(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_maintenance")
	clock := &fakeClock{t: time.Now()}
	reg := &countingRegister{}
	h, err := NewHandler(Config{DB: db, Erasures: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Maintenance: &maintenance.Gate{DB: db, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	u := user{"doc-m", uniqueTenant("maint"), "clinician,admin,privacy-officer"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "before maintenance")
	snapshot := func() string { return tenantSnapshotIn(t, db, u.tenant) }
	before := snapshot()

	if _, err := maintenance.On(ctx, db, "restore test-1", "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = maintenance.Off(ctx, db, "", true) }()
	clock.Add(maintenance.GateTTL)

	writes := 0
	for _, r := range routes {
		path := pathFor(r.Pattern, p.ID, n.ID)
		if !r.Writes {
			e.expect(200, "", u, r.Method, path, "")
			continue
		}
		writes++
		resp := e.expect(503, CodeMaintenance, u, r.Method, path, bodyFor(Route{Method: r.Method, Pattern: r.Pattern}))
		if resp.Headers["Retry-After"] != "30" {
			t.Errorf("%s %s: Retry-After %q, want 30", r.Method, r.Pattern, resp.Headers["Retry-After"])
		}
	}
	if writes != 8 {
		t.Fatalf("%d writing routes, want 8 (POST/PUT/DELETE of patients and notes, export, erasure)", writes)
	}
	if after := snapshot(); after != before {
		t.Fatalf("a refused write changed stored data:\nbefore %s\nafter  %s", before, after)
	}
	if reg.n != 0 {
		t.Fatalf("the erasure register was written %d times during maintenance", reg.n)
	}

	if _, err := maintenance.Off(ctx, db, "restore test-1", false); err != nil {
		t.Fatal(err)
	}
	clock.Add(maintenance.GateTTL)
	e.expect(200, "", u, "PUT", "/notes/"+n.ID, `{"text":"after maintenance"}`)
	e.expect(204, "", u, "DELETE", "/subjects/"+p.ID, "")
	if reg.n != 1 {
		t.Fatalf("register written %d times", reg.n)
	}
}

// TestMaintenanceGateCachesForGateTTL: a gate read just before the switch went on lets writes through
// for less than GateTTL (callers wait maintenance.Settle), never longer.
func TestMaintenanceGateCachesForGateTTL(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_maintenance_ttl")
	clock := &fakeClock{t: time.Now()}
	h, err := NewHandler(Config{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Maintenance: &maintenance.Gate{DB: db, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	u := user{"doc-t", uniqueTenant("ttl"), "clinician"}
	e.createPatient(u)
	if _, err := maintenance.On(ctx, db, "ttl test", "test"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = maintenance.Off(ctx, db, "", true) }()
	clock.Add(maintenance.GateTTL - time.Millisecond)
	e.expect(201, "", u, "POST", "/patients", adaJSON)
	clock.Add(time.Millisecond)
	e.expect(503, CodeMaintenance, u, "POST", "/patients", adaJSON)
}

// TestMaintenanceFailsClosed: when the switch cannot be read, writes are refused (503
// maintenance_state_unknown with Retry-After) and reads still work.
func TestMaintenanceFailsClosed(t *testing.T) {
	broken, err := mongo.Connect(options.Client().ApplyURI(testURI))
	if err != nil {
		t.Fatal(err)
	}
	_ = broken.Disconnect(context.Background())
	h, err := NewHandler(Config{DB: testDB, Erasures: register, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Maintenance: &maintenance.Gate{DB: broken.Database("api_test")}})
	if err != nil {
		t.Fatal(err)
	}
	good := newEnv(t)
	u := user{"doc-c", uniqueTenant("closed"), "clinician,admin,privacy-officer"}
	p := good.createPatient(u)
	e := &env{t: t, h: h}
	e.expect(200, "", u, "GET", "/patients/"+p.ID, "")
	e.expect(200, "", u, "GET", "/patients", "")
	for _, w := range [][2]string{{"POST", "/patients"}, {"PUT", "/patients/" + p.ID}, {"DELETE", "/patients/" + p.ID},
		{"DELETE", "/subjects/" + p.ID}, {"POST", "/patients/" + p.ID + "/notes"}} {
		body := ""
		if w[0] != "DELETE" {
			body = adaJSON
			if w[1] != "/patients" && w[0] == "POST" {
				body = `{"text":"x"}`
			}
		}
		resp := e.expect(503, CodeMaintenanceUnknown, u, w[0], w[1], body)
		if resp.Headers["Retry-After"] != "30" {
			t.Errorf("%s %s: Retry-After %q", w[0], w[1], resp.Headers["Retry-After"])
		}
	}
	good.expect(200, "", u, "GET", "/patients/"+p.ID, "")
}
