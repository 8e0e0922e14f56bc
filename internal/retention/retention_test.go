package retention

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/maintenance"
)

var (
	client  *mongo.Client
	testURI string
)

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(uri string, c *mongo.Client) error { client, testURI = c, uri; return nil }))
}

func newDB(t *testing.T) *mongo.Database {
	t.Helper()
	db := client.Database(fmt.Sprintf("retention_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTheRuleAtTheBoundary(t *testing.T) {
	// GIVEN 9 years' retention and a run on 15 March 2027 (any time of that day)
	for _, now := range []time.Time{date("2027-03-15T00:00:00Z"), date("2027-03-15T23:59:59Z")} {
		for _, c := range []struct {
			name       string
			lastChange string
			expired    bool
		}{
			{"last changed a day later than nine years ago: kept (expires tomorrow)", "2018-03-16T00:00:00Z", false},
			{"last changed nine years ago to the day, late that day: expires today", "2018-03-15T23:59:59Z", true},
			{"last changed nine years ago to the day, at midnight: expires today", "2018-03-15T00:00:00Z", true},
			{"last changed nine years and a day ago: expired yesterday", "2018-03-14T12:00:00Z", true},
		} {
			// WHEN the rule is asked THEN it answers by the calendar date of the last change
			if got := Expired(date(c.lastChange), now, 9); got != c.expired {
				t.Errorf("%s: on %s Expired(%s) = %v, want %v", c.name, now, c.lastChange, got, c.expired)
			}
		}
		if ks := KeptSince(now, 9); !ks.Equal(date("2018-03-16T00:00:00Z")) {
			t.Errorf("KeptSince on %s = %s, want 2018-03-16", now, ks)
		}
	}
	// AND 29 February expires on 1 March (there is no 29 February nine years later)
	leap := date("2016-02-29T08:00:00Z")
	if got := ExpiresOn(leap, 9); !got.Equal(date("2025-03-01T00:00:00Z")) {
		t.Errorf("ExpiresOn(29 Feb 2016) = %s", got)
	}
	if Expired(leap, date("2025-02-28T12:00:00Z"), 9) || !Expired(leap, date("2025-03-01T00:00:00Z"), 9) {
		t.Error("29 February 2016 must be kept on 28 February 2025 and expire on 1 March 2025")
	}
	// (1 March 2016 expires on 1 March 2025 too: on that day both have expired)
	if ks := KeptSince(date("2025-03-01T10:00:00Z"), 9); !ks.Equal(date("2016-03-02T00:00:00Z")) {
		t.Errorf("KeptSince on 1 March 2025 = %s, want 2016-03-02", ks)
	}
}

// world is a database the API wrote at pinned times, and the API's reconciler.
type world struct {
	t    *testing.T
	db   *mongo.Database
	h    *api.Handler
	now  time.Time
	pub  *audittest.SNSFake
	seen int
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, db: newDB(t), pub: audittest.NewSNSFake(t)}
	h, err := api.NewHandler(api.Config{DB: w.db, KeyPoolSize: 1, Now: func() time.Time { return w.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.h = h
	return w
}

func (w *world) call(method, path, body string, want int) map[string]any {
	w.t.Helper()
	w.seen++
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Body: body, Headers: map[string]string{"content-type": "application/json"}}
	req.RequestContext.RequestID = fmt.Sprintf("req-%d", w.seen)
	req.RequestContext.Authorizer = map[string]any{"claims": map[string]any{"sub": "u-clinician", "custom:tenant_id": "clinic", "custom:roles": "clinician"}}
	resp, err := w.h.Handle(context.Background(), req)
	if err != nil || resp.StatusCode != want {
		w.t.Fatalf("%s %s: %d %s (%v), want %d", method, path, resp.StatusCode, resp.Body, err, want)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &m)
	return m
}

// patient creates a patient at time at, with notes at the given times.
func (w *world) patient(name, at string, notesAt ...string) string {
	w.t.Helper()
	w.now = date(at)
	id := w.call("POST", "/patients", `{"givenName":"`+name+`","familyName":"`+name+`son","birthDate":"1950-01-01"}`, 201)["id"].(string)
	for _, n := range notesAt {
		w.now = date(n)
		w.call("POST", "/patients/"+id+"/notes", `{"text":"`+name+` note of `+n+`"}`, 201)
	}
	return id
}

func (w *world) run(now string) Report {
	w.t.Helper()
	rep, err := Run(context.Background(), Options{DB: w.db, Years: 9, Now: func() time.Time { return date(now) },
		Origin: audit.Origin{Actor: JobActor, Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}})
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

func (w *world) dump() string {
	w.t.Helper()
	var b strings.Builder
	for _, c := range []string{api.PatientsCollection, api.NotesCollection} {
		cur, err := w.db.Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			w.t.Fatal(err)
		}
		var docs []bson.M
		_ = cur.All(context.Background(), &docs)
		j, _ := json.Marshal(docs)
		b.Write(j)
	}
	return b.String()
}

func TestExpiryAtTheBoundaryWithAPinnedClock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// GIVEN records the API wrote years ago: one last changed a day less than nine years before the
	// run, one exactly nine years before, one nine years and a day before, an old patient whose
	// note changed recently, and an old patient with old notes
	dayBefore := w.patient("Dayb", "2018-03-16T09:00:00Z")
	dayOf := w.patient("Dayof", "2018-03-15T09:00:00Z")
	dayAfter := w.patient("Daya", "2018-03-14T09:00:00Z")
	recentNote := w.patient("Recent", "2010-01-01T09:00:00Z", "2011-01-01T09:00:00Z", "2018-03-16T00:00:00Z")
	oldNotes := w.patient("Old", "2010-01-01T09:00:00Z", "2010-06-01T09:00:00Z", "2012-06-01T09:00:00Z")

	// WHEN the job runs on 15 March 2027
	rep := w.run("2027-03-15T03:30:00Z")

	// THEN the records last changed nine years ago or earlier are erased, the others kept
	if rep.Candidates != 4 || rep.Expired != 3 || rep.Kept != 1 || rep.Notes != 2 || rep.AuditEvents != 3 || !rep.Complete {
		t.Fatalf("report %+v", rep)
	}
	all := w.dump()
	for _, gone := range []string{"Dayof", "Daya", "Old"} {
		if strings.Contains(all, gone) {
			t.Errorf("%s's personal data is still stored", gone)
		}
	}
	for _, kept := range []string{"Dayb", "Recent", "Recent note of 2018-03-16"} {
		if !strings.Contains(all, kept) {
			t.Errorf("%s was erased but has not expired", kept)
		}
	}
	keys := audit.NewSubjectKeys(w.db)
	for id, want := range map[string]bool{dayBefore: true, dayOf: false, dayAfter: false, recentNote: true, oldNotes: false} {
		_, err := keys.Get(ctx, "clinic", id)
		if has := err == nil; has != want {
			t.Errorf("subject key of %s present %v, want %v", id, has, want)
		}
	}
	// AND each erased record has one retention:expire event of the job, with no personal data
	for _, ev := range rep.Events {
		e := ev.Event
		if e.Action != ActionExpire || e.Actor != JobActor || e.Interface != audit.InterfaceJob || e.TenantID != "clinic" || e.ResourceType != "patient" {
			t.Errorf("event %+v", e)
		}
		if err := ledger.CheckNoPersonalData(e); err != nil {
			t.Error(err)
		}
	}
	// AND the API no longer serves them
	w.now = date("2027-03-15T10:00:00Z")
	w.call("GET", "/patients/"+dayOf, "", 404)
	w.call("GET", "/patients/"+dayBefore, "", 200)

	// WHEN it runs again the same day THEN nothing changes (idempotent)
	before := w.dump()
	if again := w.run("2027-03-15T23:00:00Z"); again.Expired != 0 || again.AuditEvents != 0 {
		t.Fatalf("second run %+v", again)
	}
	if w.dump() != before {
		t.Fatal("a second run changed data")
	}
	// WHEN the reconciler publishes the events THEN it purges the tombstones: the records are gone
	rec := api.NewReconciler(w.db, w.pub.Publisher())
	if _, err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.pub.Events()); n < 3 {
		t.Fatalf("%d events published", n)
	}
	if _, err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.db.Collection(api.PatientsCollection).CountDocuments(ctx, bson.D{{Key: "_id", Value: "clinic:" + dayOf}}); n != 0 {
		t.Fatalf("the expired patient's tombstone is still there after the reconciler")
	}
	// WHEN the job runs a day later THEN the records kept the day before expire: the one last
	// changed a day later, and the one whose note was
	if next := w.run("2027-03-16T03:30:00Z"); next.Expired != 2 || next.Kept != 0 {
		t.Fatalf("the next day's run %+v", next)
	}
	w.now = date("2027-03-16T10:00:00Z")
	w.call("GET", "/patients/"+dayBefore, "", 404)
}

func TestARecordChangedWhileTheJobLooksAtItIsKept(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// GIVEN an expired record, and a note added through the API right after the job marked it
	id := w.patient("Busy", "2010-01-01T09:00:00Z", "2010-02-01T09:00:00Z")
	o := Options{DB: w.db, Years: 9, Now: func() time.Time { return date("2027-03-15T03:30:00Z") },
		Origin: audit.Origin{Actor: JobActor, Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	// (the API refuses a note while the mark is on; a note whose creation held the patient before
	// the mark is stored in that moment)
	o.afterMark = func(string) {
		if _, err := w.db.Collection(api.NotesCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: "clinic:" + strings.Repeat("e", 32)},
			{Key: "tenantId", Value: "clinic"}, {Key: "patientId", Value: id}, {Key: "version", Value: 1}, {Key: "text", Value: "late note"},
			{Key: "createdAt", Value: date("2027-03-15T03:29:59Z")}, {Key: "updatedAt", Value: date("2027-03-15T03:29:59Z")}}); err != nil {
			t.Fatal(err)
		}
	}
	var c candidate
	if err := w.db.Collection(api.PatientsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "clinic:" + id}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	// WHEN the job handles it
	var rep Report
	expired, err := o.expire(ctx, c, KeptSince(o.Now(), 9), &rep)
	// THEN it is kept, its mark taken back: the API serves it and takes notes again
	if err != nil || expired {
		t.Fatalf("expired %v, %v", expired, err)
	}
	w.now = date("2027-03-15T10:00:00Z")
	w.call("GET", "/patients/"+id, "", 200)
	w.call("POST", "/patients/"+id+"/notes", `{"text":"another"}`, 201)

	o.afterMark = nil
	// GIVEN a record the API changed after the job read it WHEN the job handles the stale read
	// THEN it is kept too
	id2 := w.patient("Moved", "2010-01-01T09:00:00Z")
	var stale candidate
	if err := w.db.Collection(api.PatientsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "clinic:" + id2}}).Decode(&stale); err != nil {
		t.Fatal(err)
	}
	w.now = date("2027-03-15T03:30:00Z")
	w.call("PUT", "/patients/"+id2, `{"givenName":"Moved","familyName":"Again","birthDate":"1950-01-01"}`, 200)
	if expired, err := o.expire(ctx, stale, KeptSince(o.Now(), 9), &rep); err != nil || expired {
		t.Fatalf("stale candidate expired %v, %v", expired, err)
	}
	w.call("GET", "/patients/"+id2, "", 200)
}

func TestAHoldInFlightIsBlockedBeforeTheRecordIsErased(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// GIVEN an expired record with a note creation in flight (its hold on the patient, the note
	// not stored yet)
	id := w.patient("Flight", "2010-01-01T09:00:00Z")
	noteID := strings.Repeat("f", 32)
	if _, err := w.db.Collection(api.PatientsCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: "clinic:" + id}},
		bson.D{{Key: "$push", Value: bson.D{{Key: FieldNoteIDs, Value: noteID}}}}); err != nil {
		t.Fatal(err)
	}
	// WHEN the job runs
	rep := w.run("2027-03-15T03:30:00Z")
	if rep.Expired != 1 {
		t.Fatalf("report %+v", rep)
	}
	// THEN the note in flight can never be stored (a blocker holds its ID)
	_, err := w.db.Collection(api.NotesCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: "clinic:" + noteID}, {Key: "tenantId", Value: "clinic"},
		{Key: "patientId", Value: id}, {Key: "text", Value: "too late"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("the in-flight note could still be stored: %v", err)
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	db := newDB(t)
	origin := audit.Origin{Actor: JobActor, Interface: audit.InterfaceJob, RequestID: "r"}
	for name, o := range map[string]Options{
		"no database":   {Years: 9, Origin: origin},
		"zero years":    {DB: db, Origin: origin},
		"too many":      {DB: db, Years: 101, Origin: origin},
		"no origin":     {DB: db, Years: 9},
		"bad interface": {DB: db, Years: 9, Origin: audit.Origin{Actor: "a", RequestID: "r", Interface: "mail"}},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestJobConfigFromEnv(t *testing.T) {
	env := map[string]string{EnvRegion: "eu-west-1", EnvMongoURISecretARN: "arn:secret", EnvRetentionYears: "9"}
	c, err := JobConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.Years != 9 || c.Database != "caro" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "0", "nine", "101"} {
		env[EnvRetentionYears] = bad
		if _, err := JobConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvRetentionYears) {
			t.Errorf("retention years %q: %v", bad, err)
		}
	}
}

func TestRunJobAgainstTheDatabase(t *testing.T) {
	w := newWorld(t)
	w.patient("Job", "2010-01-01T09:00:00Z")
	// The job resolves the connection string through the secret getter and runs once.
	rep, err := RunJob(context.Background(), JobConfig{Region: "eu-west-1", Database: w.db.Name(), MongoURISecretARN: "arn:secret", Years: 9},
		JobDeps{Secret: func(context.Context, string) (string, error) { return testURI, nil }, Now: func() time.Time { return date("2027-03-15T03:30:00Z") }},
		JobEvent{Mode: "expire"})
	if err != nil || rep.Expired != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := RunJob(context.Background(), JobConfig{}, JobDeps{}, JobEvent{Mode: "purge"}); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

func TestTheJobPausesWhileTheMaintenanceSwitchIsOn(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.patient("Paused", "2010-01-01T09:00:00Z")
	// GIVEN a restore holding the maintenance switch
	if _, err := maintenance.On(ctx, w.db, "restore r1", "restoring"); err != nil {
		t.Fatal(err)
	}
	// WHEN the job runs THEN it writes nothing and stops without failing, saying why
	rep := w.run("2027-03-15T03:30:00Z")
	if rep.Expired != 0 || rep.Complete || !strings.Contains(rep.Paused, "restore r1") {
		t.Fatalf("during maintenance %+v", rep)
	}
	// WHEN the switch is off THEN the next run expires the record
	if _, err := maintenance.Off(ctx, w.db, "restore r1", false); err != nil {
		t.Fatal(err)
	}
	if rep := w.run("2027-03-16T03:30:00Z"); rep.Expired != 1 || !rep.Complete {
		t.Fatalf("after maintenance %+v", rep)
	}
}
