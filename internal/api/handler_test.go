package api

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/access"
	"github.com/carohealth/platform/internal/audit"
)

// checkEvent checks one audit event of a change: its fields, and that it holds no personal data.
func checkEvent(t *testing.T, ev audit.Event, u user, action access.Action, resType, resID, requestID string, personal ...string) {
	t.Helper()
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.Actor != u.sub || ev.TenantID != u.tenant || ev.Action != string(action) || ev.ResourceType != resType ||
		ev.ResourceID != resID || ev.Interface != audit.InterfaceAPI || ev.RequestID != requestID || ev.SubjectRef == "" {
		t.Fatalf("event %+v", ev)
	}
	b, _ := json.Marshal(ev)
	for _, p := range personal {
		if strings.Contains(string(b), p) {
			t.Fatalf("event holds personal data %q: %s", p, b)
		}
	}
}

func TestPatientLifecycleAudited(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-1", uniqueTenant("life"), "clinician,admin"}

	p := e.createPatient(u)
	createReq := e.lastRequestID()
	if !ValidID(p.ID) || p.Version != 1 || p.GivenName != "Ada" {
		t.Fatalf("created %+v", p)
	}
	evs := e.eventsFor(createReq)
	if len(evs) != 1 {
		t.Fatalf("create produced %d events", len(evs))
	}
	checkEvent(t, evs[0], u, access.PatientWrite, "patient", p.ID, createReq, "Ada", "Lovelace", "1990-12-10")
	if evs[0].BeforeHash != "" || evs[0].AfterHash == "" {
		t.Fatalf("create hashes %+v", evs[0])
	}

	got := decode[Patient](t, e.expect(200, "", u, "GET", "/patients/"+p.ID, ""))
	if got != p {
		t.Fatalf("get %+v, want %+v", got, p)
	}
	if len(e.eventsFor(e.lastRequestID())) != 0 {
		t.Fatal("a read produced an audit event")
	}

	upd := decode[Patient](t, e.expect(200, "", u, "PUT", "/patients/"+p.ID,
		`{"givenName":"Augusta","familyName":"King","birthDate":"1990-12-10"}`))
	if upd.Version != 2 || upd.GivenName != "Augusta" {
		t.Fatalf("updated %+v", upd)
	}
	evs = e.eventsFor(e.lastRequestID())
	if len(evs) != 1 {
		t.Fatalf("update produced %d events", len(evs))
	}
	checkEvent(t, evs[0], u, access.PatientWrite, "patient", p.ID, e.lastRequestID(), "Augusta", "King")
	first := e.eventsFor(createReq)[0]
	if evs[0].BeforeHash != first.AfterHash || evs[0].AfterHash == evs[0].BeforeHash || evs[0].SubjectRef != first.SubjectRef {
		t.Fatalf("update hashes do not chain: create %+v update %+v", first, evs[0])
	}

	e.expect(204, "", u, "DELETE", "/patients/"+p.ID, "")
	evs = e.eventsFor(e.lastRequestID())
	if len(evs) != 1 {
		t.Fatalf("delete produced %d events", len(evs))
	}
	checkEvent(t, evs[0], u, access.PatientDelete, "patient", p.ID, e.lastRequestID())
	if evs[0].AfterHash != "" || evs[0].BeforeHash == "" {
		t.Fatalf("delete hashes %+v", evs[0])
	}
	e.expect(404, CodeNotFound, u, "GET", "/patients/"+p.ID, "")
	e.expect(404, CodeNotFound, u, "PUT", "/patients/"+p.ID, adaJSON)
	e.expect(404, CodeNotFound, u, "DELETE", "/patients/"+p.ID, "")

	// The tombstone holds no personal data; once its event is out, the reconciler purges it and
	// shreds the subject key.
	var raw bson.M
	if err := testDB.Collection(PatientsCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + p.ID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"givenName", "familyName", "birthDate"} {
		if _, ok := raw[f]; ok {
			t.Fatalf("tombstone keeps %s", f)
		}
	}
	if _, err := NewReconciler(testDB, e.sns.Publisher()).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := testDB.Collection(PatientsCollection).CountDocuments(context.Background(), bson.D{{Key: "_id", Value: u.tenant + ":" + p.ID}}); n != 0 {
		t.Fatal("tombstone not purged")
	}
	if _, err := audit.NewSubjectKeys(testDB).Get(context.Background(), u.tenant, p.ID); err != audit.ErrSubjectKeyNotFound {
		t.Fatalf("subject key of a purged patient: %v", err)
	}
	if total := len(e.sns.Events()); total != 3 {
		t.Fatalf("%d events for 3 changes (reconciler must not republish)", total)
	}
}

func TestListPagination(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-1", uniqueTenant("page"), "clinician"}
	var ids []string
	for range 5 {
		ids = append(ids, e.createPatient(u).ID)
	}
	sort.Strings(ids)
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := map[string]string{"limit": "2"}
		if cursor != "" {
			q["cursor"] = cursor
		}
		pg := decode[PatientList](t, e.expect(200, "", u, "GET", "/patients", "", withQuery(q)))
		for _, p := range pg.Items {
			seen = append(seen, p.ID)
		}
		if pg.NextCursor == "" {
			break
		}
		if len(pg.Items) != 2 || pages > 5 {
			t.Fatalf("page %d: %+v", pages, pg)
		}
		cursor = pg.NextCursor
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("pages %v, want every patient once in ID order %v", seen, ids)
	}
	all := decode[PatientList](t, e.expect(200, "", u, "GET", "/patients", ""))
	if len(all.Items) != 5 || all.NextCursor != "" {
		t.Fatalf("default page %+v", all)
	}
	for _, q := range []map[string]string{{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"limit": "-1"},
		{"cursor": "zzz"}, {"cursor": `{"$gt":""}`}, {"sort": "name"}} {
		e.expect(400, CodeInvalidQuery, u, "GET", "/patients", "", withQuery(q))
	}
	e.expect(200, "", u, "GET", "/patients", "", withQuery(map[string]string{"limit": "100"}))
	// The smallest page: one patient, and a cursor to the next.
	one := decode[PatientList](t, e.expect(200, "", u, "GET", "/patients", "", withQuery(map[string]string{"limit": "1"})))
	if len(one.Items) != 1 || one.Items[0].ID != ids[0] || one.NextCursor != ids[0] {
		t.Fatalf("limit=1: %+v", one)
	}
}

func TestNotesLifecycle(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-2", uniqueTenant("notes"), "clinician,admin"}
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "BP 120/80\nno complaints")
	evs := e.eventsFor(e.lastRequestID())
	if len(evs) != 1 {
		t.Fatalf("note create produced %d events", len(evs))
	}
	checkEvent(t, evs[0], u, access.NoteCreate, "note", n.ID, e.lastRequestID(), "BP 120/80")
	if patientEv := e.eventsFor("req-" + t.Name() + "-1"); len(patientEv) != 1 || patientEv[0].SubjectRef != evs[0].SubjectRef {
		t.Fatal("note event does not name the patient's subject reference")
	}
	if n.PatientID != p.ID || n.Author != u.sub || n.Version != 1 {
		t.Fatalf("note %+v", n)
	}
	e.createNote(u, p.ID, "second")
	list := decode[NoteList](t, e.expect(200, "", u, "GET", "/patients/"+p.ID+"/notes", ""))
	if len(list.Items) != 2 {
		t.Fatalf("notes %+v", list)
	}
	upd := decode[Note](t, e.expect(200, "", u, "PUT", "/notes/"+n.ID, `{"text":"corrected"}`))
	if upd.Text != "corrected" || upd.Version != 2 || len(e.eventsFor(e.lastRequestID())) != 1 {
		t.Fatalf("update %+v", upd)
	}
	if got := decode[Note](t, e.expect(200, "", u, "GET", "/notes/"+n.ID, "")); got != upd {
		t.Fatalf("get %+v", got)
	}
	// A patient with notes cannot be deleted (erasure is the way to remove everything).
	e.expect(409, CodeHasNotes, u, "DELETE", "/patients/"+p.ID, "")
	if len(e.eventsFor(e.lastRequestID())) != 0 {
		t.Fatal("refused delete produced an event")
	}
	e.expect(204, "", u, "DELETE", "/notes/"+n.ID, "")
	if evs := e.eventsFor(e.lastRequestID()); len(evs) != 1 || evs[0].Action != string(access.NoteDelete) {
		t.Fatalf("note delete events %+v", evs)
	}
	e.expect(404, CodeNotFound, u, "GET", "/notes/"+n.ID, "")
	e.expect(404, CodeNotFound, u, "POST", "/patients/"+NewID()+"/notes", `{"text":"x"}`)
	e.expect(404, CodeNotFound, u, "GET", "/patients/"+NewID()+"/notes", "")
}

func TestExportAndErase(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clin := user{"doc-3", uniqueTenant("gdpr"), "clinician"}
	dpo := user{"dpo-1", clin.tenant, "privacy-officer"}
	p := e.createPatient(clin)
	createEv := e.eventsFor(e.lastRequestID())[0]
	n1 := e.createNote(clin, p.ID, "note one")
	n2 := e.createNote(clin, p.ID, "note two")
	other := e.createPatient(clin)

	// Clinicians may not export or erase.
	e.expect(403, CodeForbidden, clin, "GET", "/subjects/"+p.ID+"/export", "")
	e.expect(403, CodeForbidden, clin, "DELETE", "/subjects/"+p.ID, "")

	exp := decode[SubjectExport](t, e.expect(200, "", dpo, "GET", "/subjects/"+p.ID+"/export", ""))
	if exp.Format != ExportFormat || exp.TenantID != clin.tenant || exp.Patient.ID != p.ID || len(exp.Notes) != 2 {
		t.Fatalf("export %+v", exp)
	}
	ids := []string{exp.Notes[0].ID, exp.Notes[1].ID}
	sort.Strings(ids)
	want := []string{n1.ID, n2.ID}
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("export notes %v, want %v", ids, want)
	}
	evs := e.eventsFor(e.lastRequestID())
	if len(evs) != 1 {
		t.Fatalf("export produced %d events", len(evs))
	}
	checkEvent(t, evs[0], dpo, access.SubjectExport, "patient", p.ID, e.lastRequestID(), "Ada", "note one")

	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	eraseReq := e.lastRequestID()
	evs = e.eventsFor(eraseReq)
	if len(evs) != 1 {
		t.Fatalf("erase produced %d events", len(evs))
	}
	checkEvent(t, evs[0], dpo, access.SubjectErase, "patient", p.ID, eraseReq, "Ada")

	// Nothing personal is left: patient and notes are gone for readers, their documents hold no
	// personal fields, and the subject key is shredded so earlier refs cannot be linked any more.
	e.expect(404, CodeNotFound, clin, "GET", "/patients/"+p.ID, "")
	e.expect(404, CodeNotFound, clin, "GET", "/notes/"+n1.ID, "")
	e.expect(404, CodeNotFound, dpo, "GET", "/subjects/"+p.ID+"/export", "")
	for _, c := range []string{PatientsCollection, NotesCollection} {
		cur, err := testDB.Collection(c).Find(ctx, bson.D{{Key: "tenantId", Value: clin.tenant}})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		_ = cur.All(ctx, &docs)
		for _, d := range docs {
			if d["_id"] == clin.tenant+":"+other.ID {
				continue
			}
			b, _ := json.Marshal(d)
			for _, pd := range []string{"Ada", "Lovelace", "1990-12-10", "note one", "note two"} {
				if strings.Contains(string(b), pd) {
					t.Fatalf("%s keeps personal data %q after erasure: %s", c, pd, b)
				}
			}
		}
	}
	keys := audit.NewSubjectKeys(testDB)
	if _, err := keys.Get(ctx, clin.tenant, p.ID); err != audit.ErrSubjectKeyNotFound {
		t.Fatalf("subject key after erasure: %v", err)
	}
	if _, err := keys.Get(ctx, clin.tenant, other.ID); err != nil {
		t.Fatalf("erasure touched another patient's key: %v", err)
	}
	// The audit trail stays: the create event is still a valid event, now pseudonymous.
	if err := createEv.Validate(); err != nil || createEv.SubjectRef == "" {
		t.Fatal("audit event damaged")
	}
	// Erasing again finishes nothing new and adds no event; other patient untouched.
	e.expect(204, "", dpo, "DELETE", "/subjects/"+p.ID, "")
	if len(e.eventsFor(e.lastRequestID())) != 0 {
		t.Fatal("second erase produced an event")
	}
	e.expect(200, "", clin, "GET", "/patients/"+other.ID, "")
	e.expect(404, CodeNotFound, dpo, "DELETE", "/subjects/"+NewID(), "")

	// The reconciler purges the drained tombstones (patient and notes).
	if _, err := NewReconciler(testDB, e.sns.Publisher()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{p.ID, n1.ID, n2.ID} {
		for _, c := range []string{PatientsCollection, NotesCollection} {
			if n, _ := testDB.Collection(c).CountDocuments(ctx, bson.D{{Key: "_id", Value: clin.tenant + ":" + id}}); n != 0 {
				t.Fatalf("%s %s not purged", c, id)
			}
		}
	}
}

// TestAuditOutboxWhenTopicDown: with SNS failing, changes still succeed and nothing is lost; a
// deleted resource's tombstone waits for its event; the reconciler publishes everything once SNS is
// back, each event exactly once by ID.
func TestAuditOutboxWhenTopicDown(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := user{"doc-4", uniqueTenant("outage"), "clinician,admin"}
	e.sns.SetFailing(true)
	p := e.createPatient(u)
	n := e.createNote(u, p.ID, "during outage")
	e.expect(204, "", u, "DELETE", "/notes/"+n.ID, "")
	if len(e.sns.Events()) != 0 {
		t.Fatal("events published during outage")
	}
	rec := NewReconciler(testDB, e.sns.Publisher())
	if _, err := rec.Run(ctx); err == nil {
		t.Fatal("reconciler reported success while SNS is down")
	}
	if c, _ := testDB.Collection(NotesCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: u.tenant + ":" + n.ID}}); c != 1 {
		t.Fatal("note tombstone purged before its events were published")
	}
	e.sns.SetFailing(false)
	res, err := rec.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range e.sns.Events() {
		if ev.TenantID == u.tenant {
			got[ev.Action]++
		}
	}
	if got["patient:write"] != 1 || got["note:create"] != 1 || got["note:delete"] != 1 || res.Purged < 1 {
		t.Fatalf("after recovery: %v %+v", got, res)
	}
	if c, _ := testDB.Collection(NotesCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: u.tenant + ":" + n.ID}}); c != 0 {
		t.Fatal("note tombstone not purged after publish")
	}
}

func TestEveryRouteHasAKnownAction(t *testing.T) {
	known := map[access.Action]bool{}
	for _, a := range access.AllActions() {
		known[a] = true
	}
	for _, r := range Routes() {
		if !known[r.Action] {
			t.Errorf("%s %s has unknown action %q", r.Method, r.Pattern, r.Action)
		}
	}
}

// TestOrphanNoteErasedByPurge: a note that lands after its patient was deleted (the race that
// single-document atomicity cannot close) is erased by the reconciler before the patient's tombstone
// is purged, so no personal data outlives the patient.
func TestOrphanNoteErasedByPurge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := user{"doc-5", uniqueTenant("orphan"), "clinician,admin"}
	p := e.createPatient(u)
	e.expect(204, "", u, "DELETE", "/patients/"+p.ID, "")
	// The racing insert, as createNote would have made it just before the delete.
	noteID := NewID()
	if _, err := testDB.Collection(NotesCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: u.tenant + ":" + noteID},
		{Key: "tenantId", Value: u.tenant}, {Key: "patientId", Value: p.ID}, {Key: "version", Value: 1},
		{Key: "text", Value: "orphaned personal text"}, {Key: "outboxPending", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReconciler(testDB, e.sns.Publisher()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	var raw bson.M
	err := testDB.Collection(NotesCollection).FindOne(ctx, bson.D{{Key: "_id", Value: u.tenant + ":" + noteID}}).Decode(&raw)
	if err == nil {
		if _, has := raw["text"]; has {
			t.Fatalf("orphan note keeps its text: %v", raw)
		}
	}
	e.expect(404, CodeNotFound, u, "GET", "/notes/"+noteID, "")
}

// TestConcurrentUpdatesChainHashes: concurrent PUTs on one patient are serialised by the version
// condition; every successful change has exactly one event, versions have no gaps, and each event's
// before-hash is the previous event's after-hash (no change is lost or audited against a stale state).
func TestConcurrentUpdatesChainHashes(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-6", uniqueTenant("race"), "clinician"}
	p := e.createPatient(u)
	const writers = 6
	reqs := make([]events.APIGatewayProxyRequest, writers)
	for i := range reqs {
		body := fmt.Sprintf(`{"givenName":"Name%d","familyName":"Lovelace","birthDate":"1990-12-10"}`, i)
		reqs[i] = e.request(u, "PUT", "/patients/"+p.ID, body)
	}
	statuses := make([]int, writers)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.h.Handle(context.Background(), reqs[i])
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for i, s := range statuses {
		switch s {
		case 200:
			ok++
		case 409:
			if n := len(e.eventsFor(reqs[i].RequestContext.RequestID)); n != 0 {
				t.Fatalf("a refused update produced %d events", n)
			}
		default:
			t.Fatalf("status %d", s)
		}
	}
	final := decode[Patient](t, e.expect(200, "", u, "GET", "/patients/"+p.ID, ""))
	if final.Version != int64(1+ok) {
		t.Fatalf("version %d after %d successful updates", final.Version, ok)
	}
	var chain []audit.Event
	for _, ev := range e.sns.Events() {
		if ev.ResourceID == p.ID {
			chain = append(chain, ev)
		}
	}
	if len(chain) != 1+ok {
		t.Fatalf("%d events for %d changes", len(chain), 1+ok)
	}
	// Order the updates by their before-hash links, starting from the create.
	after := chain[0].AfterHash
	used := map[string]bool{chain[0].ID: true}
	for range ok {
		found := false
		for _, ev := range chain[1:] {
			if !used[ev.ID] && ev.BeforeHash == after {
				used[ev.ID], after, found = true, ev.AfterHash, true
				break
			}
		}
		if !found {
			t.Fatalf("the update events do not form one chain from the create: %+v", chain)
		}
	}
}
