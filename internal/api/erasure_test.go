package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
)

// TestEraseIsRegisteredFirst: an acknowledged erasure is in the register (IDs, time, request ID).
func TestEraseIsRegisteredFirst(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clin := user{"doc-r", uniqueTenant("reg"), "clinician"}
	dpo := user{"dpo-r", clin.tenant, "privacy-officer"}
	p := e.createPatient(clin)
	before := time.Now().Add(-time.Second)
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	req := e.lastRequestID()
	list, err := register.List(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	var found *erasure.Erasure
	for i := range list {
		if list[i].TenantID == clin.tenant && list[i].PatientID == p.ID {
			found = &list[i]
		}
	}
	if found == nil || found.RequestID != req || found.ErasedAt.Before(before) {
		t.Fatalf("register entry %+v (request %s)", found, req)
	}
	// A retry records again (harmless) and still answers 204.
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
}

// brokenRegister fails every write, like an unreachable bucket.
type brokenRegister struct{ calls int }

func (b *brokenRegister) Record(context.Context, erasure.Erasure) error {
	b.calls++
	return errors.New("s3 put: connection refused")
}

// TestEraseRefusedWhenRegisterFails: if the register cannot be written, nothing is erased and the
// client gets 503 to retry; the retry with the register back erases.
func TestEraseRefusedWhenRegisterFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clin := user{"doc-b", uniqueTenant("regfail"), "clinician"}
	dpo := user{"dpo-b", clin.tenant, "privacy-officer"}
	p := e.createPatient(clin)
	n := e.createNote(clin, p.ID, "keep me")
	broken := &brokenRegister{}
	h, err := NewHandler(Config{DB: testDB, Erasures: broken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	good := e.h
	e.h = h
	e.expect(503, CodeErasureUnavailable, dpo, "DELETE", "/subjects/"+p.ID, "")
	if broken.calls != 1 {
		t.Fatalf("register called %d times", broken.calls)
	}
	if len(e.eventsFor(e.lastRequestID())) != 0 {
		t.Fatal("a refused erasure produced an audit event")
	}
	// Nothing was erased: patient, note text, key and no tombstone.
	e.h = good
	got := decode[Patient](t, e.expect(200, "", clin, "GET", "/patients/"+p.ID, ""))
	if got.GivenName != "Ada" || got.Version != p.Version {
		t.Fatalf("patient changed: %+v", got)
	}
	if nn := decode[Note](t, e.expect(200, "", clin, "GET", "/notes/"+n.ID, "")); nn.Text != "keep me" {
		t.Fatalf("note changed: %+v", nn)
	}
	if _, err := audit.NewSubjectKeys(testDB).Get(ctx, clin.tenant, p.ID); err != nil {
		t.Fatalf("key: %v", err)
	}
	// The retry with the register reachable erases.
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	e.expect(404, CodeNotFound, clin, "GET", "/patients/"+p.ID, "")
}

// TestEraseRefusedWithoutRegister: a handler without a register refuses erasure clearly.
func TestEraseRefusedWithoutRegister(t *testing.T) {
	e := newEnv(t)
	clin := user{"doc-n", uniqueTenant("noreg"), "clinician"}
	dpo := user{"dpo-n", clin.tenant, "privacy-officer"}
	p := e.createPatient(clin)
	h, err := NewHandler(Config{DB: testDB, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	resp := e.expect(503, CodeErasureUnavailable, dpo, "DELETE", "/subjects/"+p.ID, "")
	if er := decode[ErrorResponse](t, resp); er.Message == "" || !strings.Contains(er.Message, "erasure register not configured") {
		t.Fatalf("message %q", er.Message)
	}
	var d bson.M
	if err := testDB.Collection(PatientsCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: clin.tenant + ":" + p.ID}}).Decode(&d); err != nil || d["givenName"] != "Ada" {
		t.Fatalf("patient %v %v", d, err)
	}
}
