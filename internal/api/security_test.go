package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
)

// tenantSnapshot is every stored document of a tenant (patients, notes, subject keys), as JSON.
func tenantSnapshot(t *testing.T, tenant string) string {
	t.Helper()
	return tenantSnapshotIn(t, testDB, tenant)
}

// tenantSnapshotIn is tenantSnapshot in another database.
func tenantSnapshotIn(t *testing.T, db *mongo.Database, tenant string) string {
	t.Helper()
	var parts []string
	for _, c := range []string{PatientsCollection, NotesCollection, audit.SubjectKeysCollection} {
		cur, err := db.Collection(c).Find(context.Background(), bson.D{{Key: "tenantId", Value: tenant}},
			options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(docs)
		parts = append(parts, c+":"+string(b))
	}
	return strings.Join(parts, "\n")
}

// pathFor fills a route pattern with an ID of the right kind.
func pathFor(pattern, patientID, noteID string) string {
	if strings.HasPrefix(pattern, "/notes/") {
		return strings.Replace(pattern, "{id}", noteID, 1)
	}
	return strings.Replace(pattern, "{id}", patientID, 1)
}

func bodyFor(r Route) string {
	switch {
	case r.Method != "POST" && r.Method != "PUT":
		return ""
	case strings.Contains(r.Pattern, "notes"):
		return `{"text":"cross-tenant attempt"}`
	default:
		return adaJSON
	}
}

// TestCrossTenantEveryRoute: a principal of tenant A with every role, using tenant B's IDs on every
// route, gets 404 (or, on the collection routes, sees none of B's data), and B's stored data and
// audit trail do not change.
func TestCrossTenantEveryRoute(t *testing.T) {
	e := newEnv(t)
	b := user{"doc-b", uniqueTenant("tenant-b"), "clinician"}
	a := user{"attacker-a", uniqueTenant("tenant-a"), "clinician,nurse,admin,privacy-officer"}
	pB := e.createPatient(b)
	nB := e.createNote(b, pB.ID, "tenant b secret")
	before := tenantSnapshot(t, b.tenant)
	eventsBefore := len(e.sns.Events())

	covered := map[string]bool{}
	for _, r := range Routes() {
		covered[r.Method+" "+r.Pattern] = true
		path := pathFor(r.Pattern, pB.ID, nB.ID)
		t.Run(r.Method+" "+r.Pattern, func(t *testing.T) {
			resp := e.do(a, r.Method, path, bodyFor(r))
			switch {
			case r.Pattern == "/patients" && r.Method == "GET":
				list := decode[PatientList](t, resp)
				if resp.StatusCode != 200 || len(list.Items) != 0 {
					t.Fatalf("tenant A lists %+v", list)
				}
				// B's ID as a cursor reveals nothing either.
				list = decode[PatientList](t, e.expect(200, "", a, "GET", "/patients", "", withQuery(map[string]string{"cursor": pB.ID})))
				if len(list.Items) != 0 {
					t.Fatalf("cursor leaks %+v", list)
				}
			case r.Pattern == "/patients" && r.Method == "POST":
				// Creates in A, never in B (checked by the snapshot below).
				if resp.StatusCode != 201 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			default:
				if resp.StatusCode != 404 {
					t.Fatalf("status %d, want 404: %s", resp.StatusCode, resp.Body)
				}
				if strings.Contains(resp.Body, "secret") || strings.Contains(resp.Body, "Ada") {
					t.Fatalf("404 body leaks data: %s", resp.Body)
				}
			}
		})
	}
	if len(covered) != len(routes) {
		t.Fatalf("covered %d of %d routes", len(covered), len(routes))
	}
	if after := tenantSnapshot(t, b.tenant); after != before {
		t.Fatalf("tenant B's data changed:\nbefore %s\nafter  %s", before, after)
	}
	for _, ev := range e.sns.Events()[eventsBefore:] {
		if ev.TenantID == b.tenant || ev.ResourceID == pB.ID || ev.ResourceID == nB.ID {
			t.Fatalf("cross-tenant request produced an event about B: %+v", ev)
		}
	}
	// B still sees its data.
	e.expect(200, "", b, "GET", "/notes/"+nB.ID, "")
}

// routeActions is the route table of docs/api.md, written out here: the action each route
// requires. It is the oracle of the tests below, independent of the route table they test.
var routeActions = map[string]string{
	"GET /patients":             "patient:read",
	"POST /patients":            "patient:write",
	"GET /patients/{id}":        "patient:read",
	"PUT /patients/{id}":        "patient:write",
	"DELETE /patients/{id}":     "patient:delete",
	"GET /patients/{id}/notes":  "note:read",
	"POST /patients/{id}/notes": "note:create",
	"GET /notes/{id}":           "note:read",
	"PUT /notes/{id}":           "note:write",
	"DELETE /notes/{id}":        "note:delete",
	"GET /subjects/{id}/export": "subject:export",
	"DELETE /subjects/{id}":     "subject:erase",
}

// roleActions is the roles table of docs/api.md, written out here.
var roleActions = map[string][]string{
	"clinician":       {"patient:read", "patient:write", "note:read", "note:create", "note:write"},
	"nurse":           {"patient:read", "note:read", "note:create"},
	"admin":           {"patient:read", "patient:write", "patient:delete", "note:read", "note:delete"},
	"privacy-officer": {"patient:read", "subject:export", "subject:erase"},
}

// TestEachRouteRequiresItsDocumentedAction: the handler's route table maps every route to the action
// docs/api.md gives it, and has no other route (issue 23 mutant 1: PUT /notes/{id} must require
// note:write, not note:create).
func TestEachRouteRequiresItsDocumentedAction(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		key := r.Method + " " + r.Pattern
		seen[key] = true
		want, ok := routeActions[key]
		if !ok {
			t.Errorf("%s is not a documented route", key)
			continue
		}
		if string(r.Action) != want {
			t.Errorf("%s requires %q, docs/api.md says %q", key, r.Action, want)
		}
	}
	for key := range routeActions {
		if !seen[key] {
			t.Errorf("documented route %s is missing", key)
		}
	}
}

// TestRoleRouteMatrix drives every role against every route, expecting what the two written-out
// tables above say (not what the route table or the policy say): a route whose action the role lacks
// is 403 before any data is read (the IDs do not even exist), one it has is never 403.
func TestRoleRouteMatrix(t *testing.T) {
	e := newEnv(t)
	tenant := uniqueTenant("matrix")
	roles := []string{"clinician", "nurse", "admin", "privacy-officer", "auditor", "admins", ""}
	for _, role := range roles {
		u := user{"u-" + role, tenant, role}
		for key, action := range routeActions {
			method, pattern, _ := strings.Cut(key, " ")
			r := Route{Method: method, Pattern: pattern}
			allowed := false
			for _, a := range roleActions[role] {
				allowed = allowed || a == action
			}
			resp := e.do(u, method, pathFor(pattern, NewID(), NewID()), bodyFor(r))
			if !allowed && resp.StatusCode != 403 {
				t.Errorf("role %q %s: status %d, want 403", role, key, resp.StatusCode)
			}
			if allowed && (resp.StatusCode == 403 || resp.StatusCode >= 500) {
				t.Errorf("role %q %s: status %d for a granted action: %s", role, key, resp.StatusCode, resp.Body)
			}
		}
	}
}

func TestHardening(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-h", uniqueTenant("hard"), "clinician,admin"}
	nurse := user{"nurse-h", u.tenant, "nurse"}
	p := e.createPatient(u)
	snap := tenantSnapshot(t, u.tenant)

	// Authentication and authorization come first.
	for _, r := range Routes() {
		e.expect(401, CodeUnauthenticated, user{}, r.Method, pathFor(r.Pattern, p.ID, p.ID), bodyFor(r))
	}
	bad := user{"x", "Not A Tenant", "admin"}
	e.expect(401, CodeUnauthenticated, bad, "GET", "/patients", "")
	e.expect(403, CodeForbidden, nurse, "DELETE", "/patients/"+p.ID, "")
	e.expect(403, CodeForbidden, nurse, "PUT", "/patients/"+p.ID, `{"$set":{"x":1}}`)

	// Routing.
	e.expect(404, CodeNotFound, u, "GET", "/admin", "")
	e.expect(404, CodeNotFound, u, "GET", "/patients/", "")
	// The custom domain's base path mapping leaves /api in the event's path: both forms route alike.
	e.expect(200, "", u, "GET", "/api/patients/"+p.ID, "")
	e.expect(404, CodeNotFound, u, "GET", "/api", "")
	e.expect(404, CodeNotFound, u, "GET", "/apipatients", "")
	resp := e.expect(405, CodeMethodNotAllowed, u, "PATCH", "/patients/"+p.ID, "")
	if resp.Headers["Allow"] != "DELETE, GET, PUT" {
		t.Fatalf("Allow %q", resp.Headers["Allow"])
	}

	// IDs, query, body.
	for _, id := range []string{"123", strings.ToUpper(p.ID), p.ID + "0", "..%2f", `{"$ne":null}`} {
		e.expect(400, CodeInvalidID, u, "GET", "/patients/"+id, "")
	}
	e.expect(400, CodeInvalidQuery, u, "GET", "/patients/"+p.ID, "", withQuery(map[string]string{"x": "1"}))
	e.expect(400, CodeInvalidQuery, u, "GET", "/patients", "", func(r *events.APIGatewayProxyRequest) {
		r.QueryStringParameters = map[string]string{"limit": "2"}
		r.MultiValueQueryStringParameters = map[string][]string{"limit": {"2", "3"}}
	})
	e.expect(400, CodeBadRequest, u, "GET", "/patients/"+p.ID, `{"a":1}`)
	e.expect(415, CodeUnsupportedMedia, u, "POST", "/patients", adaJSON, withHeader("content-type", "text/plain"))
	e.expect(415, CodeUnsupportedMedia, u, "POST", "/patients", adaJSON, withHeader("content-type", "application/json; charset=latin1"))
	e.expect(415, CodeUnsupportedMedia, u, "POST", "/patients", adaJSON, func(r *events.APIGatewayProxyRequest) { delete(r.Headers, "content-type") })
	e.expect(413, CodeTooLarge, u, "POST", "/patients", `{"givenName":"`+strings.Repeat("a", DefaultMaxBodyBytes)+`"}`)
	e.expect(400, CodeUnknownField, u, "POST", "/patients", `{"givenName":"A","familyName":"B","birthDate":"2000-01-01","role":"admin"}`)
	e.expect(400, CodeForbiddenKey, u, "POST", "/patients", `{"givenName":{"$gt":""},"familyName":"B","birthDate":"2000-01-01"}`)
	e.expect(400, CodeForbiddenKey, u, "PUT", "/patients/"+p.ID, `{"familyName.x":"B"}`)
	e.expect(400, CodeInvalidJSON, u, "POST", "/patients", adaJSON+adaJSON)
	// Field names match exactly; a case variant is a duplicate next to the name, unknown alone.
	e.expect(400, CodeInvalidJSON, u, "POST", "/patients", `{"givenName":"A","GIVENNAME":"B","familyName":"L","birthDate":"2000-01-01"}`)
	e.expect(400, CodeInvalidJSON, u, "PUT", "/patients/"+p.ID, `{"givenName":"A","GIVENNAME":"B","familyName":"L","birthDate":"2000-01-01"}`)
	e.expect(400, CodeUnknownField, u, "POST", "/patients", `{"GivenName":"A","familyName":"L","birthDate":"2000-01-01"}`)
	e.expect(400, CodeUnknownField, u, "POST", "/patients/"+p.ID+"/notes", `{"Text":"x"}`)
	e.expect(400, CodeInvalidJSON, u, "POST", "/patients/"+p.ID+"/notes", `{"text":"x","TEXT":"y"}`)
	e.expect(400, CodeInvalidJSON, u, "POST", "/patients", `{"givenName":"A"`)
	e.expect(400, CodeValidation, u, "POST", "/patients", `{"givenName":"","familyName":"B","birthDate":"2000-01-01"}`)
	e.expect(400, CodeValidation, u, "POST", "/patients/"+p.ID+"/notes", `{"text":""}`)
	e.expect(400, CodeBadRequest, u, "POST", "/patients", "!!!", func(r *events.APIGatewayProxyRequest) { r.IsBase64Encoded = true })

	if after := tenantSnapshot(t, u.tenant); after != snap {
		t.Fatal("a refused request changed stored data")
	}

	// Accepted variants: charset=utf-8 in any case, a base64-encoded body.
	e.expect(201, "", u, "POST", "/patients", adaJSON, withHeader("content-type", "Application/JSON; charset=UTF-8"))
	e.expect(201, "", u, "POST", "/patients", base64.StdEncoding.EncodeToString([]byte(adaJSON)),
		func(r *events.APIGatewayProxyRequest) { r.IsBase64Encoded = true })

	// Without a (plain) request ID from API Gateway the handler makes one and still returns it.
	for _, given := range []string{"", "a\r\nSet-Cookie: x=1", "<script>", strings.Repeat("a", 200)} {
		req := e.request(user{}, "GET", "/patients", "")
		req.RequestContext.RequestID = given
		resp, _ = e.h.Handle(context.Background(), req)
		var er ErrorResponse
		_ = json.Unmarshal([]byte(resp.Body), &er)
		if !ValidID(er.RequestID) || resp.Headers["X-Request-Id"] != er.RequestID {
			t.Fatalf("request ID for %q: %+v %v", given, er, resp.Headers)
		}
	}
}

func TestOriginSecret(t *testing.T) {
	h, err := NewHandler(Config{DB: testDB, OriginSecret: "s3cret-from-cloudfront", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	u := user{"doc-o", uniqueTenant("origin"), "clinician"}
	e.expect(403, CodeForbidden, u, "GET", "/patients", "")
	e.expect(403, CodeForbidden, u, "GET", "/patients", "", withHeader("X-Caro-Origin-Verify", "wrong"))
	e.expect(200, "", u, "GET", "/patients", "", withHeader("x-caro-origin-verify", "s3cret-from-cloudfront"))
}

// TestFaultIsGeneric: a database fault is a 500 with a generic message and the request ID; the
// detail stays in the log.
func TestFaultIsGeneric(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(testURI))
	if err != nil {
		t.Fatal(err)
	}
	_ = client.Disconnect(context.Background())
	var logs strings.Builder
	h, _ := NewHandler(Config{DB: client.Database("api_test"), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	e := &env{t: t, h: h}
	u := user{"doc-f", uniqueTenant("fault"), "clinician"}
	resp := e.expect(500, CodeInternal, u, "GET", "/patients", "")
	if strings.Contains(resp.Body, "disconnect") || strings.Contains(resp.Body, "client") {
		t.Fatalf("500 body leaks detail: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "fault") {
		t.Fatalf("fault not logged: %s", logs.String())
	}
	// A write first consults the maintenance switch, which cannot be read either: refused, fail closed.
	e.expect(503, CodeMaintenanceUnknown, u, "POST", "/patients", adaJSON)
}
