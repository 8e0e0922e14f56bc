package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/internal/tenant/cognitotest"
	"github.com/carohealth/platform/internal/tenant/status"
)

// testOptions are an offboarding's options with the test defaults (no settle wait).
func testOptions(db *mongo.Database, store objstore.Store, pool *cognitotest.Fake, tenant string) *Options {
	return &Options{DB: db, TenantID: tenant, Register: erasure.NewRegister(store), Users: cognitoUsers(pool),
		Origin: newOrigin(), Settle: time.Millisecond, BatchSize: 200}
}

func offboard(t testing.TB, o *Options) Report {
	t.Helper()
	plan, err := Preflight(context.Background(), o)
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	rep, err := Run(context.Background(), o, plan)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestOffboardRefusesWithAClearReason(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	store, _ := newBucket(t)
	pool := cognitotest.New(testPool)
	defer pool.Close()
	seedTenant(t, db, pool, "acme", 3, 1)

	for _, c := range []struct {
		name  string
		setup func(t *testing.T) func()
		opts  func(*Options)
		want  error
		says  string
	}{
		{name: "an unknown tenant", opts: func(o *Options) { o.TenantID = "nobody" }, want: ErrUnknownTenant, says: "check the tenant ID"},
		{name: "an invalid tenant ID", opts: func(o *Options) { o.TenantID = "Acme Corp" }, want: ErrInvalidTenant, says: "lowercase"},
		{name: "no register", opts: func(o *Options) { o.Register = nil }, want: ErrNoRegister, says: "--bucket"},
		{name: "no user pool", opts: func(o *Options) { o.Users = nil }, want: ErrNoUsers, says: "--user-pool-id"},
		{name: "the maintenance switch on", setup: func(t *testing.T) func() {
			if _, err := maintenance.On(ctx, db, "restore r1 (backup b1)", "restoring b1"); err != nil {
				t.Fatal(err)
			}
			return func() { _, _ = maintenance.Off(ctx, db, "", true) }
		}, want: ErrMaintenance, says: "restore r1"},
		{name: "a restore holding the ledger", setup: func(t *testing.T) func() {
			if _, err := ledger.PlaceHold(ctx, db, ledger.Hold{BackupID: "b7", Reason: "database restored"}); err != nil {
				t.Fatal(err)
			}
			return func() { _, _ = db.Collection(ledger.HoldCollection).DeleteMany(ctx, bson.D{}) }
		}, want: ErrLedgerHeld, says: "caro audit recover"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// GIVEN the situation
			if c.setup != nil {
				defer c.setup(t)()
			}
			o := testOptions(db, store, pool, "acme")
			if c.opts != nil {
				c.opts(o)
			}
			// WHEN the offboarding is planned
			_, err := Preflight(ctx, o)
			// THEN it is refused, saying why and what to do, and nothing was changed
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
			if countTenant(t, db, erasure.PatientsCollection, "acme") != 3 || pool.Count("acme") != 1 {
				t.Fatal("data changed by a refused offboarding")
			}
			if r, _ := status.Get(ctx, db, o.TenantID); r != nil {
				t.Fatalf("status recorded by a refused offboarding: %+v", r)
			}
		})
	}
}

func TestOffboardThousandsOfRecordsThenAnOlderBackupRestoredBringsNoneBack(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of records on FerretDB")
	}
	ctx := context.Background()
	db := newDB(t)
	store, _ := newBucket(t)
	pool := cognitotest.New(testPool)
	defer pool.Close()
	// GIVEN a tenant with 1,500 patients, 3,000 notes, their keys and 30 users, one patient written
	// through the API (its audit events still pending), another tenant beside it, and a backup
	seedTenant(t, db, pool, "leaving", 1500, 30)
	apiPatient(t, db, store, "leaving")
	seedTenant(t, db, pool, "staying", 100, 5)
	apiPatient(t, db, store, "staying")
	kmsB := backup.NewAWSKMS(kmsClient)
	m, err := backup.Create(ctx, backup.CreateOptions{Source: mongoC, Database: db.Name(), Store: store, KMS: kmsB, KeyID: keyARN, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	stayingBefore := tenantPicture(t, db, "staying")

	// WHEN the tenant is offboarded
	o := testOptions(db, store, pool, "leaving")
	var progress []string
	start := time.Now()
	o.Progress = func(s string) {
		progress = append(progress, s)
		t.Logf("%s %s", time.Since(start).Round(time.Millisecond), s)
	}
	plan, err := Preflight(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Patients: 1501, Notes: 3001, Subjects: 1501, Users: 30}
	if plan.Counts != want || plan.Resume != nil {
		t.Fatalf("plan %+v, want counts %+v", plan, want)
	}
	rep, err := Run(ctx, o, plan)
	if err != nil {
		t.Fatal(err)
	}

	// THEN nothing of it is left: documents, keys, users; the other tenant is untouched
	assertGone(t, db, pool, "leaving")
	if got := tenantPicture(t, db, "staying"); got != stayingBefore || pool.Count("staying") != 5 {
		t.Fatalf("the other tenant changed:\n%s\n%s", got[:min(len(got), 3000)], stayingBefore[:min(len(stayingBefore), 3000)])
	}
	if rep.Removed != want || rep.Run.Counts == nil || *rep.Run.Counts != want || !rep.Run.Completed {
		t.Fatalf("report %+v", rep)
	}
	for u, n := range pool.Deletes() {
		if n != 1 {
			t.Errorf("user %s deleted %d times", u, n)
		}
	}
	if errs := pool.Errors(); len(errs) > 0 {
		t.Fatalf("Cognito requests: %v", errs)
	}
	// AND its pending audit events were kept, and one tenant:offboard event records it, naming no one
	if rep.CarriedEvents < 2 {
		t.Fatalf("carried %d pending events, want the API patient's and note's", rep.CarriedEvents)
	}
	events := offboardEvents(t, db)
	if len(events) != 1 {
		t.Fatalf("%d tenant:offboard events, want 1", len(events))
	}
	ev := events[0]
	sum := sha256.Sum256(rep.Summary)
	if ev.ID != rep.Run.EventID || ev.TenantID != "leaving" || ev.ResourceID != "leaving" || ev.Interface != audit.InterfaceCLI ||
		ev.Actor != testOrigin.Actor || ev.AfterHash != hex.EncodeToString(sum[:]) || ev.SubjectRef != "" {
		t.Fatalf("event %+v", ev)
	}
	if err := ledger.CheckNoPersonalData(ev); err != nil {
		t.Fatal(err)
	}
	var summary Summary
	if err := json.Unmarshal(rep.Summary, &summary); err != nil || summary.Counts != want {
		t.Fatalf("summary %s", rep.Summary)
	}
	// AND the register holds the tenant-level entry with the counts, the status says offboarded
	list, err := erasure.NewRegister(store).List(ctx, time.Time{})
	if err != nil || len(list) != 1 || !list[0].IsTenant() || list[0].Counts["patients"] != 1501 || list[0].EventID != ev.ID {
		t.Fatalf("register %+v, %v", list, err)
	}
	if r, _ := status.Get(ctx, db, "leaving"); r == nil || r.State != status.Offboarded {
		t.Fatalf("status %+v", r)
	}
	if len(progress) < 10 {
		t.Fatalf("progress: %v", progress)
	}

	// WHEN the older backup is restored over the database (a rollback), and into a fresh one (a
	// failover's new cluster)
	for _, target := range []*mongo.Database{db, newDB(t)} {
		rrep, err := restore.Backup(ctx, restore.Options{Target: mongoC, Database: target.Name(), Replace: true, Settle: time.Millisecond,
			Erasures: erasure.NewRegister(store)},
			restore.BackupSource{ReadOptions: backup.ReadOptions{BackupID: m.BackupID, Store: store, KMS: kmsB, AllowedKeys: []string{keyARN}}})
		if err != nil {
			t.Fatal(err)
		}
		// THEN none of the tenant comes back, the other tenant is as backed up, the API refuses it
		assertGone(t, target, pool, "leaving")
		if got := tenantPicture(t, target, "staying"); got != stayingBefore {
			t.Fatalf("%s: the other tenant differs after the restore", target.Name())
		}
		if rrep.Erasures == nil || rrep.Erasures.Tenants != 1 || rrep.Erasures.TenantsErased != 1 {
			t.Fatalf("%s: restore's erasure summary %+v", target.Name(), rrep.Erasures)
		}
		if r, _ := status.Get(ctx, target, "leaving"); r == nil || r.State != status.Offboarded {
			t.Fatalf("%s: status after the restore %+v", target.Name(), r)
		}
	}

	// WHEN it is run again THEN there is nothing to do
	again, err := Preflight(ctx, testOptions(db, store, pool, "leaving"))
	if err != nil || !again.NothingToDo() {
		t.Fatalf("second plan %+v, %v", again, err)
	}
	if _, err := Run(ctx, testOptions(db, store, pool, "leaving"), again); !errors.Is(err, ErrNotOffboarding) {
		t.Fatalf("second run: %v", err)
	}
}

// assertGone fails when db or the pool holds anything of tenant.
func assertGone(t *testing.T, db *mongo.Database, pool *cognitotest.Fake, tenant string) {
	t.Helper()
	for _, c := range []string{erasure.PatientsCollection, erasure.NotesCollection, audit.SubjectKeysCollection} {
		if n := countTenant(t, db, c, tenant); n != 0 {
			t.Errorf("%s.%s holds %d documents of %s", db.Name(), c, n, tenant)
		}
	}
	if n := pool.Count(tenant); n != 0 {
		t.Errorf("the pool holds %d users of %s", n, tenant)
	}
}

// tenantPicture is the tenant's patients, notes and keys as one string (without outboxes).
func tenantPicture(t *testing.T, db *mongo.Database, tenant string) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{erasure.PatientsCollection, erasure.NotesCollection, audit.SubjectKeysCollection} {
		cur, err := db.Collection(c).Find(context.Background(), bson.D{{Key: "tenantId", Value: tenant}})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			delete(d, audit.FieldOutbox)
			delete(d, audit.FieldPending)
		}
		j, _ := json.Marshal(docs) // sorted keys
		b.Write(j)
	}
	return b.String()
}

// offboardEvents are the tenant:offboard events stored in the platform outbox.
func offboardEvents(t *testing.T, db *mongo.Database) []audit.Event {
	t.Helper()
	cur, err := db.Collection(audit.PlatformOutboxCollection).Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Events audit.PendingEvents `bson:"outbox"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	for _, d := range docs {
		for _, ev := range d.Events {
			if ev.Action == erasure.ActionOffboard {
				out = append(out, ev)
			}
		}
	}
	return out
}

func TestOffboardStopsWhenARestoreStartsAndResumesAfterIt(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	store, _ := newBucket(t)
	pool := cognitotest.New(testPool)
	defer pool.Close()
	seedTenant(t, db, pool, "acme", 120, 3)
	// GIVEN an offboarding during which a restore turns the maintenance switch on
	o := testOptions(db, store, pool, "acme")
	o.BatchSize = 50
	o.afterBatch = func(step string, done int64) {
		if step == StepNotes && done == 50 {
			if _, err := maintenance.On(ctx, db, "restore r9", "restoring"); err != nil {
				t.Error(err)
			}
		}
	}
	plan, err := Preflight(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// WHEN it runs THEN it stops before the next batch, saying how to resume
	_, err = Run(ctx, o, plan)
	if !errors.Is(err, ErrMaintenance) || !strings.Contains(err.Error(), "resumes run") {
		t.Fatalf("run during a restore: %v", err)
	}
	if n := countTenant(t, db, erasure.NotesCollection, "acme"); n != 240-50 {
		t.Fatalf("%d notes left, want 190 (one batch deleted)", n)
	}
	// WHEN the restore is over and it runs again THEN it resumes and finishes
	if _, err := maintenance.Off(ctx, db, "restore r9", false); err != nil {
		t.Fatal(err)
	}
	o2 := testOptions(db, store, pool, "acme")
	rep := offboard(t, o2)
	if !rep.Resumed || rep.Removed.Notes != 190 || rep.Removed.Patients != 120 || rep.Removed.Subjects != 0 {
		t.Fatalf("resumed run %+v", rep)
	}
	assertGone(t, db, pool, "acme")
	if n := len(offboardEvents(t, db)); n != 1 {
		t.Fatalf("%d offboard events, want 1", n)
	}
}

func TestAFailingUserPoolStopsTheRunAndARerunFinishes(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	store, _ := newBucket(t)
	pool := cognitotest.New(testPool)
	defer pool.Close()
	seedTenant(t, db, pool, "acme", 5, 12)
	// GIVEN a user pool that throttles after four deletions
	pool.FailDeletesAfter = 4
	o := testOptions(db, store, pool, "acme")
	plan, err := Preflight(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the offboarding runs THEN it stops at the users step, documents already gone
	if _, err := Run(ctx, o, plan); err == nil || !strings.Contains(err.Error(), "step users") {
		t.Fatalf("run with a failing pool: %v", err)
	}
	if pool.Count("acme") != 8 || countTenant(t, db, erasure.PatientsCollection, "acme") != 0 {
		t.Fatal("unexpected state after the failure")
	}
	// WHEN the pool works again and the command is rerun THEN it finishes the users, once each
	pool.FailDeletesAfter = 0
	rep := offboard(t, testOptions(db, store, pool, "acme"))
	if !rep.Resumed || rep.Removed.Users != 8 || rep.Run.Counts.Users != 12 {
		t.Fatalf("rerun %+v", rep)
	}
	for u, n := range pool.Deletes() {
		if n != 1 {
			t.Errorf("user %s deleted %d times", u, n)
		}
	}
	assertGone(t, db, pool, "acme")
}

func TestCognitoUsersListsOneTenantPageByPage(t *testing.T) {
	ctx := context.Background()
	pool := cognitotest.New(testPool)
	defer pool.Close()
	for i := range 130 {
		tenant := "a"
		if i%3 == 0 {
			tenant = "b"
		}
		pool.AddUser(fmt.Sprintf("+3161%05d", i), tenant, fmt.Sprintf("sub-%d", i))
	}
	u := cognitoUsers(pool)
	// WHEN tenant a's users are listed THEN every one is listed once, in pages of at most 60
	seen := map[string]bool{}
	pages := 0
	if err := u.List(ctx, "a", func(page []User) error {
		pages++
		for _, x := range page {
			if seen[x.Username] || !strings.HasPrefix(x.Sub, "sub-") {
				t.Errorf("user %+v", x)
			}
			seen[x.Username] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 86 || pages != 3 {
		t.Fatalf("listed %d users in %d pages, want 86 in 3", len(seen), pages)
	}
	// AND deleting one that is already gone is not an error
	if err := u.Delete(ctx, User{Username: "+31600000000", Sub: "gone"}); err != nil {
		t.Fatal(err)
	}
	if errs := pool.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// childEnv carries the kill test's offboarding to its child process.
const childEnv = "CARO_TENANT_TEST_CHILD"

type childJob struct {
	MongoURI, S3Endpoint, Bucket, Database, PoolURL, Tenant, PauseStep, PauseFile string
	PauseAfter                                                                    int64
}

// runChild is the child process of TestKill9MidOffboardingAndRerun: it offboards and stops, for
// ever, after the batch that reaches PauseAfter in PauseStep, after saying so in PauseFile.
func runChild(spec string) int {
	var j childJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	if err := connect(ctx, j.MongoURI, j.S3Endpoint, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	users := &CognitoUsers{Client: cognitoClient(j.PoolURL), UserPoolID: testPool, DeletesPerSecond: 10000}
	o := &Options{DB: mongoC.Database(j.Database), TenantID: j.Tenant, Register: erasure.NewRegister(objstore.NewS3(s3Client, j.Bucket, "")),
		Users: users, Origin: newOrigin(), Settle: time.Millisecond, BatchSize: 100}
	o.afterBatch = func(step string, done int64) {
		if step == j.PauseStep && done >= j.PauseAfter {
			_ = os.WriteFile(j.PauseFile, []byte(fmt.Sprintf("%s %d", step, done)), 0o600)
			select {}
		}
	}
	plan, err := Preflight(ctx, o)
	if err == nil {
		_, err = Run(ctx, o, plan)
	}
	fmt.Fprintln(os.Stderr, "child offboarding ended without being killed:", err)
	return 1
}

func TestKill9MidOffboardingAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process")
	}
	for _, c := range []struct {
		step     string
		after    int64
		patients int
		users    int
	}{{StepNotes, 1000, 1000, 20}, {StepUsers, 100, 50, 250}} {
		t.Run("during "+c.step, func(t *testing.T) {
			ctx := context.Background()
			db := newDB(t)
			store, bucket := newBucket(t)
			pool := cognitotest.New(testPool)
			defer pool.Close()
			// GIVEN a tenant, and an offboarding process killed with SIGKILL in the middle of a step
			seedTenant(t, db, pool, "acme", c.patients, c.users)
			seedTenant(t, db, pool, "other", 10, 2)
			want := Counts{Patients: int64(c.patients), Notes: 2 * int64(c.patients), Subjects: int64(c.patients), Users: int64(c.users)}
			pause := filepath.Join(t.TempDir(), "paused")
			spec, _ := json.Marshal(childJob{MongoURI: ferret.URI(), S3Endpoint: s3Srv.Endpoint(), Bucket: bucket, Database: db.Name(),
				PoolURL: pool.URL, Tenant: "acme", PauseStep: c.step, PauseAfter: c.after, PauseFile: pause})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if _, err := os.Stat(pause); err == nil {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatal("the child never reached its pause point")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			// WHEN the command is run again
			o := testOptions(db, store, pool, "acme")
			plan, err := Preflight(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Resume == nil || plan.Resume.Counts == nil || *plan.Resume.Counts != want {
				t.Fatalf("plan after the kill %+v", plan.Resume)
			}
			rep, err := Run(ctx, o, plan)
			if err != nil {
				t.Fatal(err)
			}
			// THEN it resumed the killed run and finished it: everything gone, nothing twice
			if !rep.Resumed || rep.Run.ID != plan.Resume.ID || !rep.Run.Completed {
				t.Fatalf("report %+v", rep)
			}
			assertGone(t, db, pool, "acme")
			if countTenant(t, db, erasure.PatientsCollection, "other") != 10 || pool.Count("other") != 2 {
				t.Fatal("the other tenant changed")
			}
			for u, n := range pool.Deletes() {
				if n != 1 {
					t.Errorf("user %s deleted %d times", u, n)
				}
			}
			if len(pool.Deletes()) != c.users {
				t.Errorf("%d users deleted, want %d", len(pool.Deletes()), c.users)
			}
			if n := len(offboardEvents(t, db)); n != 1 {
				t.Fatalf("%d offboard events, want 1", n)
			}
			recs, err := openJournal(db, "acme").Records(ctx)
			if err != nil {
				t.Fatal(err)
			}
			completed := map[string]int{}
			removed := Counts{}
			for _, r := range recs {
				if r.Event == StepCompleted {
					completed[r.Step]++
					if r.Counts != nil && r.Step != StepCount {
						removed.Patients += r.Counts.Patients
						removed.Notes += r.Counts.Notes
						removed.Subjects += r.Counts.Subjects
						removed.Users += r.Counts.Users
					}
				}
			}
			for _, s := range Steps {
				if completed[s] != 1 {
					t.Errorf("step %s completed %d times in the journal, want once", s, completed[s])
				}
			}
			// The step the kill interrupted is journaled with what its second attempt removed; the
			// first attempt's share is what the plan counted minus that.
			if removed.Patients+removed.Subjects > want.Patients+want.Subjects || removed.Users > want.Users {
				t.Fatalf("journal says more removed than there was: %+v", removed)
			}
		})
	}
}
