package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
)

// rolledBack writes Ada (one note) and Grace (one note) through the API into db, and registers
// Ada's erasure as if it had happened after the snapshot db was just restored from. It returns
// the tenant and the two patient IDs.
func rolledBack(t *testing.T, db *mongo.Database, reg *erasure.Register) (tenant, ada, grace string) {
	t.Helper()
	ctx := context.Background()
	h, err := api.NewHandler(api.Config{DB: db, KeyPoolSize: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	tenant = fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	call := func(path, body string) string {
		req := events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: path, Body: body, Headers: map[string]string{"content-type": "application/json"}}
		req.RequestContext.RequestID = "req-seed"
		req.RequestContext.Authorizer = map[string]any{"claims": map[string]any{"sub": "doc", "custom:tenant_id": tenant, "custom:roles": "clinician"}}
		resp, _ := h.Handle(ctx, req)
		var m map[string]any
		if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &m) != nil {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, resp.Body)
		}
		return m["id"].(string)
	}
	ada = call("/patients", `{"givenName":"Ada","familyName":"Lovelace","birthDate":"1990-12-10"}`)
	call("/patients/"+ada+"/notes", `{"text":"Ada's note"}`)
	grace = call("/patients", `{"givenName":"Grace","familyName":"Hopper","birthDate":"1980-12-09"}`)
	call("/patients/"+grace+"/notes", `{"text":"Grace's note"}`)
	if err := reg.Record(ctx, erasure.Erasure{TenantID: tenant, PatientID: ada, ErasedAt: time.Now(), RequestID: "req-erase"}); err != nil {
		t.Fatal(err)
	}
	return tenant, ada, grace
}

func documentsJSON(t *testing.T, db *mongo.Database) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{api.PatientsCollection, api.NotesCollection} {
		cur, err := db.Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		_ = cur.All(context.Background(), &docs)
		j, _ := json.Marshal(docs)
		b.Write(j)
	}
	return b.String()
}

func TestGDPRReapply(t *testing.T) {
	env := newBackupEnv(t)
	ctx := context.Background()
	store, _, err := backupClients(ctx, &backupFlags{bucket: "caro-backups", region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	db := env.client.Database("caro")
	// GIVEN a database rolled back to before Ada's registered erasure
	tenant, ada, grace := rolledBack(t, db, erasure.NewRegister(store))
	before := documentsJSON(t, db)

	// WHEN run without --yes, with a bad --since, or with an unreadable register THEN nothing changes
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gdpr", "reapply", "--mongodb-uri", env.mongoURI}, "--yes"},
		{[]string{"gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--since", "yesterday", "--yes"}, "RFC 3339"},
		{[]string{"gdpr", "reapply", "--yes"}, "--mongodb-uri"},
		{[]string{"gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--bucket", "no-such-bucket", "--yes"}, "erasure register"},
	} {
		if code, _, errOut := runCaro(tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Fatalf("%v: exit %d %q, want an error naming %s", tc.args, code, errOut, tc.want)
		}
	}
	if documentsJSON(t, db) != before {
		t.Fatal("a refused run changed the database")
	}

	// WHEN run with --yes THEN Ada is erased again, Grace untouched; summary on stdout, progress on stderr
	code, out, errOut := runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--yes", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Database   string `json:"database"`
		Registered int    `json:"registered"`
		Applied    int    `json:"applied"`
		Patients   int    `json:"patientsErased"`
		Notes      int64  `json:"notesErased"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Database != "caro" || rep.Registered != 1 || rep.Applied != 1 || rep.Patients != 1 || rep.Notes != 1 {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if !strings.Contains(errOut, tenant+"/"+ada) {
		t.Fatalf("stderr %q", errOut)
	}
	after := documentsJSON(t, db)
	for _, pd := range []string{"Ada", "Lovelace", "Ada's note"} {
		if strings.Contains(after, `"`+pd+`"`) {
			t.Fatalf("%q left: %s", pd, after)
		}
	}
	if !strings.Contains(after, `"Grace's note"`) || !strings.Contains(after, `"Hopper"`) {
		t.Fatalf("Grace touched: %s", after)
	}
	keys := audit.NewSubjectKeys(db)
	if _, err := keys.Get(ctx, tenant, ada); err != audit.ErrSubjectKeyNotFound {
		t.Fatalf("Ada's key: %v", err)
	}
	if _, err := keys.Get(ctx, tenant, grace); err != nil {
		t.Fatalf("Grace's key: %v", err)
	}
	// AND a second run changes nothing
	code, out, errOut = runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--yes")
	if code != 0 || !strings.Contains(out, "re-applied 1 registered erasures to caro: 0 patients and 0 notes") || documentsJSON(t, db) != after {
		t.Fatalf("second run: %d %q %q", code, out, errOut)
	}
	// AND --since after the erasure selects nothing
	code, out, _ = runCaro("gdpr", "reapply", "--mongodb-uri", env.mongoURI, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--yes")
	if code != 0 || !strings.Contains(out, "re-applied 0 registered erasures") {
		t.Fatalf("--since: %d %q", code, out)
	}
}
