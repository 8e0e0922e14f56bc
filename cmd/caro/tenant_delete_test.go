package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/tenant"
	"github.com/carohealth/platform/internal/tenant/cognitotest"
	"github.com/carohealth/platform/internal/tenant/status"
)

const tenantTestPool = "eu-west-1_TenantTest"

// tenantEnv is a region for `caro tenant delete`: FerretDB, an S3 backup bucket, a fake user pool,
// and the settings in the environment (no AWS to ask for stack outputs).
type tenantEnv struct {
	db   *mongo.Database
	s3   *localstack.S3
	pool *cognitotest.Fake
}

func newTenantEnv(t *testing.T) tenantEnv {
	t.Helper()
	ferret := localstack.StartFerretDBForTest(t)
	s3srv := localstack.StartS3ForTest(t, "caro-backups")
	pool := cognitotest.New(tenantTestPool)
	t.Cleanup(pool.Close)
	for name, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY": localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
		"AWS_ENDPOINT_URL_S3": s3srv.Endpoint(), "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": pool.URL,
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		"CARO_REGION": "eu-west-1", "CARO_MONGODB_URI": ferret.URI(), "CARO_BACKUP_BUCKET": "caro-backups",
		"CARO_USER_POOL_ID": tenantTestPool, EnvAuditTopicARN: "",
	} {
		t.Setenv(name, v)
	}
	withCloud(t, cloudFake{})
	c, err := mongo.Connect(options.Client().ApplyURI(ferret.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return tenantEnv{db: c.Database("caro"), s3: s3srv, pool: pool}
}

// seed writes n patients with a note and a key each into tenant, and users users.
func (e tenantEnv) seed(t *testing.T, tenantID string, n, users int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var patients, notes []any
	var ids []string
	for i := range n {
		pid := fmt.Sprintf("%s%031x", "a", i)
		ids = append(ids, pid)
		patients = append(patients, bson.D{{Key: "_id", Value: tenantID + ":" + pid}, {Key: "tenantId", Value: tenantID}, {Key: "version", Value: 1},
			{Key: "givenName", Value: "Given"}, {Key: "familyName", Value: "Family"}, {Key: "birthDate", Value: "1970-01-01"}, {Key: "updatedAt", Value: now}})
		notes = append(notes, bson.D{{Key: "_id", Value: tenantID + ":n" + pid[1:]}, {Key: "tenantId", Value: tenantID}, {Key: "patientId", Value: pid},
			{Key: "text", Value: "a note"}, {Key: "updatedAt", Value: now}})
	}
	if _, err := e.db.Collection(erasure.PatientsCollection).InsertMany(ctx, patients); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Collection(erasure.NotesCollection).InsertMany(ctx, notes); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.NewSubjectKeys(e.db).CreateMany(ctx, tenantID, ids); err != nil {
		t.Fatal(err)
	}
	for i := range users {
		e.pool.AddUser(fmt.Sprintf("+3162%s%04d", tenantID, i), tenantID, fmt.Sprintf("sub-%s-%d", tenantID, i))
	}
}

func (e tenantEnv) count(t *testing.T, tenantID string) int64 {
	t.Helper()
	var total int64
	for _, c := range []string{erasure.PatientsCollection, erasure.NotesCollection, audit.SubjectKeysCollection} {
		n, err := e.db.Collection(c).CountDocuments(context.Background(), bson.D{{Key: "tenantId", Value: tenantID}})
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total + int64(e.pool.Count(tenantID))
}

func TestTenantDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB")
	}
	env := newTenantEnv(t)
	env.seed(t, "acme", 40, 3)
	env.seed(t, "other", 5, 1)
	ctx := context.Background()

	t.Run("without --tenant it says what to pass", func(t *testing.T) {
		code, _, errOut := runCaro("tenant", "delete")
		if code == 0 || !strings.Contains(errOut, "pass --tenant") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("an unknown tenant is refused", func(t *testing.T) {
		code, _, errOut := runCaro("tenant", "delete", "--tenant", "nobody", "--yes")
		if code == 0 || !strings.Contains(errOut, `unknown tenant "nobody"`) || !strings.Contains(errOut, "check the tenant ID") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("a dry run prints the plan and changes nothing", func(t *testing.T) {
		code, out, errOut := runCaro("tenant", "delete", "--tenant", "acme", "--dry-run")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"patients             40", "notes                40", "subjects             40", "users                 3",
			"s3://caro-backups/erasures/acme/tenant.json", "dry run: nothing was changed"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		if env.count(t, "acme") != 123 {
			t.Fatal("a dry run changed data")
		}
	})
	t.Run("without confirmation it prints the plan and refuses", func(t *testing.T) {
		code, out, errOut := runCaro("tenant", "delete", "--tenant", "acme")
		if code == 0 || !strings.Contains(errOut, "pass -y/--yes") || !strings.Contains(out, "patients             40") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
		if env.count(t, "acme") != 123 {
			t.Fatal("an unconfirmed run changed data")
		}
		if r, _ := status.Get(ctx, env.db, "acme"); r != nil {
			t.Fatal("an unconfirmed run marked the tenant")
		}
	})
	t.Run("the maintenance switch on refuses it", func(t *testing.T) {
		if _, err := maintenance.On(ctx, env.db, "restore 1a2b (backup b1)", "restoring b1"); err != nil {
			t.Fatal(err)
		}
		defer maintenance.Off(ctx, env.db, "", true)
		code, _, errOut := runCaro("tenant", "delete", "--tenant", "acme", "--yes")
		if code == 0 || !strings.Contains(errOut, "maintenance switch is on") || !strings.Contains(errOut, "restore 1a2b") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("confirmed, it offboards the tenant and says what it removed", func(t *testing.T) {
		code, out, errOut := runCaro("tenant", "delete", "--tenant", "acme", "--yes", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Plan   tenant.Plan   `json:"plan"`
			Result tenant.Report `json:"result"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
		}
		want := tenant.Counts{Patients: 40, Notes: 40, Subjects: 40, Users: 3}
		if got.Plan.Counts != want || got.Result.Removed != want || !got.Result.Run.Completed || got.Result.AuditEvent == nil {
			t.Fatalf("report %+v", got)
		}
		if env.count(t, "acme") != 0 || env.count(t, "other") != 5*3+1 {
			t.Fatal("acme not gone, or other touched")
		}
		if !strings.Contains(errOut, "patients deleted 40/40") || !strings.Contains(errOut, "audit: 1 events stored pending") {
			t.Errorf("progress on stderr:\n%s", errOut)
		}
		store := objstore.NewS3(env.s3.Client("eu-west-1"), "caro-backups", "")
		list, err := erasure.NewRegister(store).List(ctx, time.Time{})
		if err != nil || len(list) != 1 || !list[0].IsTenant() || list[0].TenantID != "acme" {
			t.Fatalf("register %+v, %v", list, err)
		}
		ev := got.Result.AuditEvent.Event
		if ev.Actor != testOperator || ev.Interface != audit.InterfaceCLI || ev.Action != erasure.ActionOffboard || ev.TenantID != "acme" {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("run again, there is nothing left to do", func(t *testing.T) {
		code, out, errOut := runCaro("tenant", "delete", "--tenant", "acme", "--yes")
		if code != 0 || !strings.Contains(out, "was offboarded on") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
	})
}
