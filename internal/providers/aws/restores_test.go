package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/restore"
	"github.com/carohealth/platform/regions"
)

func TestRestoreInputsNameTheConnectionString(t *testing.T) {
	for _, name := range []string{"atlas", "backup"} {
		inputs := func(uri string) RestoreInputs {
			s := &RestoreSettings{TargetMongoURI: uri}
			if name == "atlas" {
				return &Snapshots{Settings: s}
			}
			return Restores{Settings: s}
		}
		t.Run("GIVEN the "+name+" restore and no target connection string THEN the check says what to set", func(t *testing.T) {
			_, err := inputs("").CheckInputs("eu-central-1")
			if err == nil || !strings.Contains(err.Error(), SettingTargetMongoURI+" is not set") || !strings.Contains(err.Error(), "eu-central-1 cluster") {
				t.Fatalf("err = %v", err)
			}
			if name == "atlas" && !strings.Contains(err.Error(), "erasure register") {
				t.Errorf("the atlas message does not say why (the erasure register): %v", err)
			}
		})
		t.Run("GIVEN the "+name+" restore and a value that is no MongoDB URI THEN it is refused without echoing it", func(t *testing.T) {
			_, err := inputs("cluster0.example.mongodb.net").CheckInputs("eu-central-1")
			if err == nil || !strings.Contains(err.Error(), "mongodb+srv://") || strings.Contains(err.Error(), "cluster0.example") {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("GIVEN the "+name+" restore and the URI set THEN the check passes without printing it", func(t *testing.T) {
			check, err := inputs("mongodb+srv://oncall:s3cret@cluster0.example.mongodb.net/").CheckInputs("eu-central-1")
			if err != nil || !strings.Contains(check, SettingTargetMongoURI+" is set") || strings.Contains(check, "s3cret") {
				t.Fatalf("check %q, err %v", check, err)
			}
		})
	}
}

// stubCatalog must never be reached: the restore input is checked before anything is asked of AWS.
type stubCatalog struct{ t *testing.T }

func (s stubCatalog) Latest(context.Context, *Clients, map[string]string, string, string) (failover.BackupRef, error) {
	s.t.Error("the catalog was asked before the restore input was checked")
	return failover.BackupRef{}, nil
}

func TestPlanAtlasRefusedWithoutConnectionString(t *testing.T) {
	// GIVEN the AWS provider with the Atlas restore, and no target connection string
	defs, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	s := &RestoreSettings{}
	prov := &Provider{
		Regions: defs, Catalog: stubCatalog{t}, Restorer: Restores{Settings: s},
		AtlasCatalog: stubCatalog{t}, AtlasRestorer: &Snapshots{Settings: s, Regions: defs},
		ClientsFor: func(context.Context, string) (*Clients, error) {
			t.Error("AWS clients were built before the restore input was checked")
			return &Clients{}, nil
		},
	}
	// WHEN `caro failover plan --restore atlas` surveys
	_, err = failover.MakePlan(context.Background(), prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "atlas"}, time.Now())
	// THEN it refuses before touching AWS, naming the setting and the target cluster
	if err == nil || !strings.Contains(err.Error(), "atlas restore into eu-central-1 cannot run") || !strings.Contains(err.Error(), SettingTargetMongoURI+" is not set") {
		t.Fatalf("err = %v", err)
	}
}

// restoreWorld is the target region of a failover on the local servers: its database, its
// replica of the source's backup bucket and its own backup bucket (each with erasures/), its replica
// of the backup key.
type restoreWorld struct {
	db       *mongo.Database
	uri      string
	clients  *Clients
	outs     map[string]string
	replica  backup.ObjectStore
	own      backup.ObjectStore
	keyARN   string
	otherKey string
	kms      backup.KMS
}

func newRestoreWorld(t *testing.T) *restoreWorld {
	t.Helper()
	ctx := context.Background()
	ferret := localstack.StartFerretDBForTest(t)
	kmsSrv := localstack.StartKMSForTest(t, localstack.WithKMSRegion("eu-central-1"))
	s3srv := localstack.StartS3ForTest(t, "caro-backup-replica-eu-central-1", "caroplatform-eu-central-1-backups")
	kc := kms.NewFromConfig(localstack.AWSConfig("eu-central-1", kmsSrv.Endpoint()))
	s3c := s3.NewFromConfig(localstack.AWSConfig("eu-central-1", s3srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	var keys []string
	for range 2 {
		k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("backup key")})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(k.KeyMetadata.Arn))
	}
	c, err := mongo.Connect(options.Client().ApplyURI(ferret.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return &restoreWorld{db: c.Database(backup.DefaultDatabase), uri: ferret.URI(), clients: &Clients{S3: s3c, KMS: kc, STS: fakeSTS(t)},
		outs:    map[string]string{OutputBackupBucket: "caro-backup-replica-eu-central-1", OutputBackupKeyArn: keys[0], OutputOwnBackupBucket: "caroplatform-eu-central-1-backups"},
		replica: backup.NewS3Store(s3c, "caro-backup-replica-eu-central-1", ""), own: backup.NewS3Store(s3c, "caroplatform-eu-central-1-backups", ""),
		keyARN: keys[0], otherKey: keys[1], kms: backup.NewAWSKMS(kc)}
}

// seedPatients writes patients the way the API stores them (with notes and subject keys) into db.
func seedPatients(t *testing.T, db *mongo.Database, tenant string, names ...string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i, name := range names {
		pid := fmt.Sprintf("%032x", time.Now().UnixNano()+int64(i))
		now := time.Now().UTC().Truncate(time.Millisecond)
		if _, err := db.Collection(erasure.PatientsCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: tenant + ":" + pid}, {Key: "tenantId", Value: tenant},
			{Key: "version", Value: 1}, {Key: "givenName", Value: name}, {Key: "familyName", Value: name + "son"}, {Key: "birthDate", Value: "1990-12-10"},
			{Key: "createdAt", Value: now}, {Key: "updatedAt", Value: now}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection(erasure.NotesCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: tenant + ":n" + pid[1:]}, {Key: "tenantId", Value: tenant},
			{Key: "patientId", Value: pid}, {Key: "version", Value: 1}, {Key: "text", Value: name + " note"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.SubjectKeysIn(db.Collection(audit.SubjectKeysCollection)).Create(ctx, tenant, pid); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pid)
	}
	return ids
}

func dumpDB(t *testing.T, db *mongo.Database) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{erasure.PatientsCollection, erasure.NotesCollection} {
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

// TestTheRestoreStepRunsTheProtocol: the AWS restore step restores the plan's logical backup by the
// post-restore protocol: only under the target's accepted keys, the erasure register of both
// buckets applied, the plan's listing of the target compared, the marker its Check reads.
func TestTheRestoreStepRunsTheProtocol(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	// GIVEN a backup of the source (Ada and Grace), Ada erased in the source afterwards (in the
	// replica's register), Grace erased by the target while it served (only in its own bucket)
	src := w.db.Client().Database("source")
	ids := seedPatients(t, src, "t1", "Ada", "Grace")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "source", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.WriteIdentityExport(ctx, backup.IdentityExportOptions{Store: w.replica, KMS: w.kms, KeyID: w.keyARN, BackupID: m.BackupID, Region: "eu-west-1"},
		[]backup.IdentityRecord{{Phone: "+31600000001", TenantID: "t1", Roles: []string{"clinician"}}}); err != nil {
		t.Fatal(err)
	}
	for i, store := range []backup.ObjectStore{w.replica, w.own} {
		if err := erasure.NewRegister(store).Record(ctx, erasure.Erasure{TenantID: "t1", PatientID: ids[i], ErasedAt: time.Now(), RequestID: fmt.Sprint("r", i)}); err != nil {
			t.Fatal(err)
		}
	}
	settings := &RestoreSettings{TargetMongoURI: w.uri, Settle: time.Millisecond, LedgerKeyProblem: "no key pinned in this test"}
	r := Restores{Settings: settings}
	inv, err := r.TargetInventory(ctx)
	if err != nil || len(inv.Collections) != 0 {
		t.Fatalf("target inventory %+v %v", inv, err)
	}
	plan := &failover.Plan{ID: "p1", From: "eu-west-1", To: "eu-central-1", Backup: failover.BackupRef{ID: m.BackupID},
		Settings: map[string]string{restore.SettingTargetInventory: inv.Setting()}}
	var lines []string
	progress := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }

	// WHEN the target's own backup bucket is unknown THEN the step refuses, naming the setting
	noOwn := map[string]string{OutputBackupBucket: w.outs[OutputBackupBucket], OutputBackupKeyArn: w.keyARN}
	if _, err := r.Restore(ctx, w.clients, noOwn, plan, progress); err == nil || !strings.Contains(err.Error(), SettingOwnBackupBucket) {
		t.Fatalf("without the own bucket: %v", err)
	}
	// WHEN the stack's key is not the one the backup is under THEN it is refused, naming the key
	otherOuts := map[string]string{OutputBackupBucket: w.outs[OutputBackupBucket], OutputBackupKeyArn: w.otherKey, OutputOwnBackupBucket: w.outs[OutputOwnBackupBucket]}
	if _, err := r.Restore(ctx, w.clients, otherOuts, plan, progress); !errors.Is(err, backup.ErrWrongKey) || !strings.Contains(err.Error(), w.keyARN) {
		t.Fatalf("other key: %v", err)
	}
	if done, err := r.Restored(ctx, w.clients, w.outs, plan); err != nil || done {
		t.Fatalf("restored before the restore: %v %v", done, err)
	}
	// WHEN the step runs
	msg, err := r.Restore(ctx, w.clients, w.outs, plan, progress)
	if err != nil {
		t.Fatal(err)
	}
	// THEN the data is back without either erased patient's personal data, and the Check says done
	if d := dumpDB(t, w.db); strings.Contains(d, `"Ada"`) || strings.Contains(d, `"Grace note"`) || !strings.Contains(d, `"t1"`) {
		t.Fatalf("restored data: %s", d)
	}
	for _, want := range []string{"restored backup " + m.BackupID, "2 registered erasures re-applied (2 patients erased again)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("step says %q, not %q", msg, want)
		}
	}
	if done, err := r.Restored(ctx, w.clients, w.outs, plan); err != nil || !done {
		t.Fatalf("Check after the restore: %v %v", done, err)
	}
	users, err := r.Identities(ctx, w.clients, w.outs, plan)
	if err != nil || len(users) != 1 {
		t.Fatalf("identities %+v %v", users, err)
	}
	// AND once the tenant is offboarded (a tenant-level entry in the target's own register) its
	// users are not re-created from the older identity export
	if err := erasure.NewRegister(w.own).Record(ctx, erasure.Erasure{Scope: erasure.ScopeTenant, TenantID: "t1", ErasedAt: time.Now(), RequestID: "offboard"}); err != nil {
		t.Fatal(err)
	}
	if users, err := r.Identities(ctx, w.clients, w.outs, plan); err != nil || len(users) != 0 {
		t.Fatalf("identities of an offboarded tenant %+v %v", users, err)
	}
	// AND a repeated step (a resume) restores nothing again
	if msg, err := r.Restore(ctx, w.clients, w.outs, plan, progress); err != nil || !strings.Contains(msg, "was already restored") {
		t.Fatalf("repeated: %q %v", msg, err)
	}
}

// atlasFake answers the Admin API calls of one successful snapshot restore (service-account auth).
func atlasFake(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"tok","token_type":"Bearer","expires_in":3600}`))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/backup/snapshots"):
			w.Write([]byte(`{"results":[{"id":"snap1","status":"completed","createdAt":"2026-11-23T01:00:00Z","copyRegions":["EU_CENTRAL_1"]}],"totalCount":1}`))
		case strings.HasSuffix(p, "/encryptionAtRest"):
			w.Write([]byte(`{"awsKms":{"enabled":false}}`))
		case r.Method == http.MethodGet && strings.HasSuffix(p, "/backup/restoreJobs"):
			w.Write([]byte(`{"results":[],"totalCount":0}`))
		case r.Method == http.MethodPost && strings.HasSuffix(p, "/backup/restoreJobs"):
			w.Write([]byte(`{"id":"job1","deliveryType":"automated"}`))
		case strings.HasSuffix(p, "/backup/restoreJobs/job1"):
			w.Write([]byte(`{"id":"job1","deliveryType":"automated","finishedAt":"2026-11-23T06:00:00Z"}`))
		default:
			t.Errorf("unexpected %s %s", r.Method, p)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTheAtlasRestoreStepRunsTheProtocol: the Atlas restore step reads both registers before the
// job, and after it applies them to the restored cluster and writes the marker.
func TestTheAtlasRestoreStepRunsTheProtocol(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	defs, err := regions.Load("../../../regions")
	if err != nil {
		t.Fatal(err)
	}
	client, err := atlas.NewClient(ctx, atlas.Credentials{ClientID: "sa-1", ClientSecret: "s"}, atlasFake(t).URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ar := atlas.NewRestorer(client)
	ar.Sleep = func(context.Context, time.Duration) error { return nil }
	// GIVEN the "restored" cluster holding Ada and Grace, Ada erased in the replica's register,
	// Grace in the target's own
	ids := seedPatients(t, w.db, "t2", "Ada", "Grace")
	for i, store := range []backup.ObjectStore{w.replica, w.own} {
		if err := erasure.NewRegister(store).Record(ctx, erasure.Erasure{TenantID: "t2", PatientID: ids[i], ErasedAt: time.Now(), RequestID: fmt.Sprint("r", i)}); err != nil {
			t.Fatal(err)
		}
	}
	plan := &failover.Plan{ID: "p1", From: "eu-west-1", To: "eu-central-1", Restore: "atlas", Backup: failover.BackupRef{ID: "snap1"}}
	progress := func(string, ...any) {}
	// WHEN the target URI is missing THEN nothing starts
	a := &Snapshots{Settings: &RestoreSettings{Settle: time.Millisecond}, Regions: defs, Atlas: ar}
	if _, err := a.Restore(ctx, w.clients, w.outs, plan, progress); err == nil || !strings.Contains(err.Error(), SettingTargetMongoURI) {
		t.Fatalf("without URI: %v", err)
	}
	// WHEN one of the two buckets cannot be read THEN it refuses too, naming it
	a.Settings.TargetMongoURI, a.Settings.OwnBackupBucket = w.uri, "no-such-bucket"
	if _, err := a.Restore(ctx, w.clients, w.outs, plan, progress); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket") {
		t.Fatalf("unreadable own bucket: %v", err)
	}
	a.Settings.OwnBackupBucket = ""
	msg, err := a.Restore(ctx, w.clients, w.outs, plan, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	// THEN both erasures are applied, the marker names the snapshot and the plan
	if !strings.Contains(msg, "2 registered erasures re-applied (2 patients erased again)") || !strings.Contains(msg, "job job1") {
		t.Fatalf("step message %q", msg)
	}
	if d := dumpDB(t, w.db); strings.Contains(d, `"Ada"`) || strings.Contains(d, `"Grace"`) {
		t.Fatal("personal data left after the failover's Atlas restore: " + d)
	}
	if done, err := a.Restored(ctx, w.clients, w.outs, plan); err != nil || !done {
		t.Fatalf("Check after the restore: %v %v", done, err)
	}
}
