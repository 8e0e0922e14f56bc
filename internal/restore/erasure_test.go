package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/carohealth/platform/internal/backup"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
)

// apiClient drives the real API handler on one database, with the erasure register in the backup
// bucket, as the deployed function has it.
type apiClient struct {
	t      *testing.T
	h      *api.Handler
	tenant string
	n      int
}

func newAPIClient(t *testing.T, db string, store backup.ObjectStore) *apiClient {
	t.Helper()
	h, err := api.NewHandler(api.Config{DB: mongoC.Database(db), Erasures: erasure.NewRegister(store), KeyPoolSize: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, h: h, tenant: fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)}
}

func (c *apiClient) call(roles, method, path, body string, want int) map[string]any {
	c.t.Helper()
	c.n++
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Body: body, Headers: map[string]string{"content-type": "application/json"}}
	if body == "" {
		req.Headers = map[string]string{}
	}
	req.RequestContext.RequestID = fmt.Sprintf("req-%d", c.n)
	req.RequestContext.Authorizer = map[string]any{"claims": map[string]any{"sub": "u-" + roles, "custom:tenant_id": c.tenant, "custom:roles": roles}}
	resp, err := c.h.Handle(context.Background(), req)
	if err != nil || resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d (%v)", method, path, resp.StatusCode, resp.Body, want, err)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &m)
	return m
}

func (c *apiClient) patient(given string, notes ...string) string {
	c.t.Helper()
	p := c.call("clinician", "POST", "/patients", `{"givenName":"`+given+`","familyName":"`+given+`son","birthDate":"1980-02-03"}`, 201)
	id := p["id"].(string)
	for _, n := range notes {
		c.call("clinician", "POST", "/patients/"+id+"/notes", `{"text":"`+n+`"}`, 201)
	}
	return id
}

// erasureFixture: a database written by the API (Ada with two notes, Grace with one), backed up,
// and then Ada erased through the API, which records the erasure in the backup bucket.
type erasureFixture struct {
	fixture
	c          *apiClient
	ada, grace string
}

func newErasureFixture(t *testing.T) erasureFixture {
	t.Helper()
	src := newDB("esrc")
	f := fixture{store: newBucket(t), kms: backup.NewAWSKMS(kmsClient), source: src}
	c := newAPIClient(t, src, f.store)
	ef := erasureFixture{c: c}
	ef.ada = c.patient("Ada", "Ada note one", "Ada note two")
	ef.grace = c.patient("Grace", "Grace note")
	m, err := backup.Create(context.Background(), backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	ef.fixture = f
	c.call("privacy-officer", "DELETE", "/subjects/"+ef.ada, "", 204)
	return ef
}

// personalData returns the patients' and notes' documents of db as JSON.
func personalData(t *testing.T, db string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{api.PatientsCollection, api.NotesCollection} {
		cur, err := mongoC.Database(db).Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(docs)
		b.Write(j)
	}
	return b.String()
}

func TestRestoreReappliesErasuresMadeAfterTheBackup(t *testing.T) {
	ctx := context.Background()
	// GIVEN a backup taken before Ada was erased through the API
	f := newErasureFixture(t)
	// WHEN the backup is restored over the database (a rollback)
	var progress []string
	rep, err := f.restore(f.source, func(o *testRestore) {
		o.Replace = true
		o.Progress = func(p backup.Progress) { progress = append(progress, p.Message) }
	})
	if err != nil {
		t.Fatal(err)
	}
	// THEN Ada's personal data, notes' text and subject key are gone again
	data := personalData(t, f.source)
	for _, pd := range []string{"Ada", "Adason", "Ada note one", "Ada note two"} {
		if strings.Contains(data, `"`+pd+`"`) {
			t.Fatalf("%q is back after the restore: %s", pd, data)
		}
	}
	keys := audit.NewSubjectKeys(mongoC.Database(f.source))
	if _, err := keys.Get(ctx, f.c.tenant, f.ada); !errors.Is(err, audit.ErrSubjectKeyNotFound) {
		t.Fatalf("Ada's subject key is back: %v", err)
	}
	// AND everything else is intact: Grace, her note and key, and the API serves her
	for _, keep := range []string{`"Grace"`, `"Graceson"`, `"Grace note"`} {
		if !strings.Contains(data, keep) {
			t.Fatalf("%s lost: %s", keep, data)
		}
	}
	if _, err := keys.Get(ctx, f.c.tenant, f.grace); err != nil {
		t.Fatal(err)
	}
	f.c.call("clinician", "GET", "/patients/"+f.grace, "", 200)
	f.c.call("clinician", "GET", "/patients/"+f.ada, "", 404)
	// AND the report and progress say what was re-applied; counts are still the backup's
	if rep.Erasures == nil || rep.Erasures.Registered != 1 || rep.Erasures.Patients != 1 || rep.Erasures.Notes != 2 || rep.ErasureRegisterSkipped {
		t.Fatalf("report erasures %+v", rep.Erasures)
	}
	if rep.Documents != f.m.Documents {
		t.Fatalf("documents %d, manifest %d", rep.Documents, f.m.Documents)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "1 registered erasures applied") {
		t.Fatalf("progress %q", progress)
	}
	// AND restoring again (idempotent) gives the same database, Ada's erasure applied again
	before := snapshot(t, f.source)
	rep, err = f.restore(f.source, func(o *testRestore) { o.Replace = true })
	if err != nil || rep.Erasures.Patients != 1 {
		t.Fatalf("second restore: %+v %v", rep.Erasures, err)
	}
	after := snapshot(t, f.source)
	if len(after[api.PatientsCollection]) != len(before[api.PatientsCollection]) || personalData(t, f.source) == "" {
		t.Fatal("second restore differs")
	}
	// AND a fresh database gets the same result (a standby restore)
	fresh := newDB("efresh")
	if _, err := f.restore(fresh); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(personalData(t, fresh), `"Ada note one"`) {
		t.Fatal("erased note text restored into a fresh database")
	}
}

// unreadableRegister is a register whose bucket cannot be listed (a missing permission).
type unreadableRegister struct{}

func (unreadableRegister) List(context.Context, time.Time) ([]erasure.Erasure, error) {
	return nil, errors.New("s3 list s3://bucket/erasures/: AccessDenied")
}

func TestRestoreRefusesWithoutReadableRegister(t *testing.T) {
	f := newErasureFixture(t)
	before := snapshot(t, f.source)
	// WHEN the register cannot be read
	_, err := f.restore(f.source, func(o *testRestore) { o.Replace = true; o.Erasures = unreadableRegister{} })
	// THEN the restore refuses with a clear error and the target is untouched (no staging either)
	if !errors.Is(err, ErrErasureRegister) || !strings.Contains(err.Error(), "--skip-erasure-register") || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v", err)
	}
	sameSnapshot(t, snapshot(t, f.source), before)
	// AND with the explicit skip it restores, erased data and all, and says so
	var progress []string
	rep, err := f.restore(f.source, func(o *testRestore) {
		o.Replace = true
		o.Erasures = unreadableRegister{}
		o.SkipErasureRegister = true
		o.Progress = func(p backup.Progress) { progress = append(progress, p.Message) }
	})
	if err != nil || !rep.ErasureRegisterSkipped || rep.Erasures != nil {
		t.Fatalf("skip: %+v %v", rep, err)
	}
	if !strings.Contains(progress[0]+progress[1], "WARNING: the erasure register is skipped") {
		t.Fatalf("no loud warning: %q", progress)
	}
	if !strings.Contains(personalData(t, f.source), `"Ada note one"`) {
		t.Fatal("skip restored without the erased data: the test does not prove anything")
	}
	// AND `gdpr reapply`'s code finishes the job afterwards
	sum, err := erasure.Reapply(context.Background(), erasure.ReapplyOptions{Source: erasure.NewRegister(f.store), DB: mongoC.Database(f.source),
		Origin: audit.Origin{Actor: "os-user:test", Interface: audit.InterfaceCLI, RequestID: audit.NewEventID()}})
	if err != nil || sum.Patients != 1 || strings.Contains(personalData(t, f.source), `"Ada note one"`) {
		t.Fatalf("reapply after skip: %+v %v", sum, err)
	}
}

// TestVerifyStillMatchesManifest: verify compares the backup with its manifest; the register plays
// no part.
func TestVerifyIgnoresRegister(t *testing.T) {
	f := newErasureFixture(t)
	rep, err := backup.Verify(context.Background(), backup.VerifyOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, AllowedKeys: []string{keyARN}, Scratch: mongoC})
	if err != nil || !rep.OK || rep.Documents != f.m.Documents {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

// growingRegister is the real register plus an erasure that is recorded while the restore loads.
type growingRegister struct {
	erasure.Source
	late  erasure.Erasure
	calls int
}

func (g *growingRegister) List(ctx context.Context, since time.Time) ([]erasure.Erasure, error) {
	g.calls++
	l, err := g.Source.List(ctx, since)
	if g.calls > 1 {
		l = append(l, g.late)
	}
	return l, err
}

// TestRestoreAppliesErasuresRecordedDuringTheRestore: the register is listed again right before the
// switch, so an erasure recorded while the backup was loading is applied too.
func TestRestoreAppliesErasuresRecordedDuringTheRestore(t *testing.T) {
	f := newErasureFixture(t)
	reg := &growingRegister{Source: erasure.NewRegister(f.store),
		late: erasure.Erasure{Format: erasure.Format, TenantID: f.c.tenant, PatientID: f.grace, ErasedAt: time.Now(), RequestID: "late"}}
	target := newDB("egrow")
	rep, err := f.restore(target, func(o *testRestore) { o.Erasures = reg })
	if err != nil {
		t.Fatal(err)
	}
	if reg.calls != 3 || rep.Erasures.Registered != 2 || rep.Erasures.Patients != 2 || rep.Erasures.Notes != 3 {
		t.Fatalf("calls %d, summary %+v", reg.calls, rep.Erasures)
	}
	if data := personalData(t, target); strings.Contains(data, `"Grace note"`) || strings.Contains(data, `"Ada note one"`) {
		t.Fatalf("personal data left: %s", data)
	}
}

// TestRestoreAppliesErasuresRecordedDuringTheSwitch: an erasure recorded in the register after the
// last listing before the switch (by the peer region's API, whose data is elsewhere) is applied to
// the restored data by the listing after the switch.
func TestRestoreAppliesErasuresRecordedDuringTheSwitch(t *testing.T) {
	f := newErasureFixture(t)
	target := f.source
	reg := erasure.NewRegister(f.store)
	rep, err := f.restore(target, func(o *testRestore) {
		o.Replace = true
		o.fail = func(step string) error {
			if step == "rename-stage:patients" {
				if err := reg.Record(context.Background(), erasure.Erasure{TenantID: f.c.tenant, PatientID: f.grace, ErasedAt: time.Now(), RequestID: "peer"}); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// THEN her data is not live after the restore, and the summary counts her erasure
	if data := personalData(t, target); strings.Contains(data, `"Grace note"`) || strings.Contains(data, `"Grace"`) {
		t.Fatalf("Grace's erasure was recorded during the switch, yet her data is live: %s", data)
	}
	if rep.Erasures == nil || rep.Erasures.Patients != 2 {
		t.Fatalf("summary %+v", rep.Erasures)
	}
}

// TestAnErasureAppliedDuringTheRestoreDespiteTheSwitchStopsIt: an API instance that does not honour
// the maintenance switch erases Grace in the live data while the restore runs. The restore notices
// the write and refuses before it switches: the live data, with Grace erased, stays.
func TestAnErasureAppliedDuringTheRestoreDespiteTheSwitchStopsIt(t *testing.T) {
	ctx := context.Background()
	f := newErasureFixture(t)
	target := f.source
	origin := audit.Origin{Actor: "api", Interface: audit.InterfaceAPI, RequestID: audit.NewEventID()}
	_, err := f.restore(target, func(o *testRestore) {
		o.Replace = true
		o.fail = func(step string) error {
			if step == "erasures" {
				e := erasure.Erasure{Format: erasure.Format, TenantID: f.c.tenant, PatientID: f.grace, ErasedAt: time.Now(), RequestID: "old-api"}
				if err := erasure.NewRegister(f.store).Record(ctx, e); err != nil {
					t.Fatal(err)
				}
				if _, err := erasure.Apply(ctx, mongoC.Database(target), erasure.Live(), e, time.Now(), origin); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}
	})
	if !errors.Is(err, ErrWritesDuringRestore) || !strings.Contains(err.Error(), "subject_keys: ") || !strings.Contains(err.Error(), "nothing was switched") {
		t.Fatalf("err = %v", err)
	}
	if data := personalData(t, target); strings.Contains(data, `"Grace note"`) || strings.Contains(data, `"Grace"`) {
		t.Fatalf("Grace's erasure was lost: %s", data)
	}
	if left := reserved(t, target, stagePrefix); len(left) != 0 {
		t.Fatalf("staging left: %v", left)
	}
}
