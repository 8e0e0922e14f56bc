package api

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/tenant/status"
)

// TestAnOffboardedTenantIsRefusedOnEveryRoute: once a tenant is marked offboarding (the first step
// of `caro tenant delete`), every route, reads included, answers its users 401 as for a request
// without a valid identity, and changes nothing; another tenant is served as before.
func TestAnOffboardedTenantIsRefusedOnEveryRoute(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_offboarded")
	clock := &fakeClock{t: time.Now()}
	h, err := NewHandler(Config{DB: db, Erasures: register, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tenants: &status.Gate{DB: db, Now: clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	leaving := user{"doc-l", uniqueTenant("leaving"), "clinician,admin,privacy-officer"}
	staying := user{"doc-s", uniqueTenant("staying"), "clinician,admin,privacy-officer"}
	p := e.createPatient(leaving)
	n := e.createNote(leaving, p.ID, "before the offboarding")
	other := e.createPatient(staying)
	before := tenantSnapshotIn(t, db, leaving.tenant)

	// GIVEN the tenant marked offboarding, seen by the gate once its cache expired
	if _, err := status.Mark(ctx, db, leaving.tenant, status.Offboarding, "run-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Add(status.GateTTL)
	// WHEN its users call any route THEN 401 unauthenticated, and nothing changes
	for _, r := range routes {
		e.expect(401, CodeUnauthenticated, leaving, r.Method, pathFor(r.Pattern, p.ID, n.ID), bodyFor(Route{Method: r.Method, Pattern: r.Pattern}))
	}
	if after := tenantSnapshotIn(t, db, leaving.tenant); after != before {
		t.Fatalf("a refused request changed the offboarded tenant's data:\nbefore %s\nafter  %s", before, after)
	}
	// AND the answer is the one a request without a valid identity gets
	refused := decode[ErrorResponse](t, e.do(leaving, "GET", "/patients", ""))
	anonymous := decode[ErrorResponse](t, e.do(user{}, "GET", "/patients", ""))
	refused.RequestID, anonymous.RequestID = "", ""
	if refused != anonymous {
		t.Fatalf("offboarded %+v, anonymous %+v: they must not differ", refused, anonymous)
	}
	// AND another tenant is served
	e.expect(200, "", staying, "GET", "/patients/"+other.ID, "")
	e.expect(201, "", staying, "POST", "/patients", `{"givenName":"Still","familyName":"Here","birthDate":"1990-01-01"}`)
	// AND it stays refused once offboarded
	if _, err := status.Mark(ctx, db, leaving.tenant, status.Offboarded, "run-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Add(status.GateTTL)
	e.expect(401, CodeUnauthenticated, leaving, "GET", "/patients", "")
}

// TestAnUnreadableTenantStatusRefusesTheRequest: the API fails closed when it cannot tell whether
// the tenant is offboarded.
func TestAnUnreadableTenantStatusRefusesTheRequest(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_offboarded_unknown")
	// GIVEN a status gate whose database cannot be reached
	down, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/").SetServerSelectionTimeout(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Disconnect(ctx)
	h, err := NewHandler(Config{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tenants: &status.Gate{DB: down.Database("x")}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	// WHEN a user calls THEN the request is refused with the generic fault (the detail in the log)
	e.expect(500, CodeInternal, user{"doc", uniqueTenant("t"), "clinician"}, "GET", "/patients", "")
}
