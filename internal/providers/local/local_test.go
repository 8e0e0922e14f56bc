package local

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/health"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/restore"
)

func TestPointToMovesTheNameAtomically(t *testing.T) {
	// GIVEN Knot serving api-origin at the primary's address
	k := localstack.StartKnotForTest(t, "caro.test", "api-origin 5 IN A 127.0.1.1")
	name, secret, alg := k.TSIG()
	env := &Env{Zone: k.Zone(), Name: "api-origin.caro.test.", DNSAddr: k.Addr(), TSIGName: name, TSIGSecret: secret, TSIGAlg: alg}
	ctx := context.Background()
	if ip, err := Resolve(ctx, env); err != nil || ip != "127.0.1.1" {
		t.Fatalf("before: %s %v", ip, err)
	}
	// WHEN a signed RFC 2136 update points it at the standby
	if err := PointTo(ctx, env, "127.0.2.1", 5); err != nil {
		t.Fatal(err)
	}
	// THEN it answers the standby only
	if ip, err := Resolve(ctx, env); err != nil || ip != "127.0.2.1" {
		t.Fatalf("after: %s %v", ip, err)
	}
	// AND an update signed with the wrong key is refused
	bad := *env
	bad.TSIGSecret = "c2VjcmV0LW5vdC10aGUta2V5LXNlY3JldC1ub3QtdGhlLWtleQ=="
	if err := PointTo(ctx, &bad, "127.0.3.1", 5); err == nil {
		t.Fatal("update with a wrong TSIG key accepted")
	}
}

func TestHealthHandlerReportsRestoreMarker(t *testing.T) {
	db := localstack.StartFerretDBForTest(t)
	ctx := context.Background()
	c, err := mongo.Connect(options.Client().ApplyURI(db.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	srv := httptest.NewServer(HealthHandler("eu-central-1", c.Database("caro")))
	defer srv.Close()
	h, err := GetHealth(ctx, srv.URL+"/api")
	if err != nil || h.Region != "eu-central-1" || h.Restore != nil {
		t.Fatalf("before restore: %+v %v", h, err)
	}
	c.Database("caro").Collection(restore.MarkerCollection).InsertOne(ctx, restore.Marker{ID: restore.MarkerID, RestoreMarker: health.RestoreMarker{BackupID: "b1", PlanID: "p1", Documents: 5, RestoredAt: time.Now()}})
	h, err = GetHealth(ctx, srv.URL+"/api")
	if err != nil || h.Restore == nil || h.Restore.BackupID != "b1" {
		t.Fatalf("after restore: %+v %v", h, err)
	}
	// The security headers are set on the answer.
	resp, _ := srv.Client().Get(srv.URL + "/health")
	if resp.Header.Get("Strict-Transport-Security") == "" && resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("no security headers: %v", resp.Header)
	}
}

func TestSurveyRefusesUnreachableTargetAndStepsRefuseChangedEnv(t *testing.T) {
	dir := t.TempDir()
	envPath := filepath.Join(dir, "env.json")
	env := &Env{Primary: DrillPrimary, StateDir: dir, Regions: map[string]Region{
		DrillPrimary: {MongoURI: "mongodb://127.0.0.1:1/", IP: "127.0.1.1", APIPort: 1},
		DrillStandby: {MongoURI: "mongodb://127.0.0.1:1/", KMSEndpoint: "http://127.0.0.1:1", S3Endpoint: "http://127.0.0.1:1", IP: "127.0.2.1", APIPort: 1},
	}}
	if err := WriteEnv(envPath, env); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(envPath); st.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v: it holds the TSIG secret", st.Mode().Perm())
	}
	p := &Provider{}
	_, err := failover.MakePlan(context.Background(), p, failover.Request{From: DrillPrimary, To: DrillStandby, Primary: DrillPrimary,
		Restore: "backup", Settings: map[string]string{SettingEnv: envPath}}, time.Now())
	if !errors.Is(err, failover.ErrTargetUnhealthy) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("err = %v", err)
	}
	if _, err := p.Survey(context.Background(), failover.Request{To: DrillStandby, Restore: "atlas", Settings: map[string]string{SettingEnv: envPath}}); err == nil || !strings.Contains(err.Error(), "--restore backup") {
		t.Fatalf("atlas locally: %v", err)
	}
	plan := &failover.Plan{To: DrillStandby, Settings: map[string]string{SettingEnv: envPath, SettingEnvHash: "0000"}}
	if _, err := p.Steps(context.Background(), plan); err == nil || !strings.Contains(err.Error(), "changed since the plan") {
		t.Fatalf("changed env: %v", err)
	}
}

func TestChecksumCoversEveryDocument(t *testing.T) {
	db := localstack.StartFerretDBForTest(t)
	ctx := context.Background()
	c, _ := mongo.Connect(options.Client().ApplyURI(db.URI()))
	defer c.Disconnect(ctx)
	coll := c.Database("caro").Collection("patients")
	coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}, bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 2}}})
	c.Database("caro").Collection(restore.MarkerCollection).InsertOne(ctx, bson.D{{Key: "_id", Value: "restore"}})
	sum1, n, err := Checksum(ctx, db.URI(), "caro")
	if err != nil || n != 2 {
		t.Fatalf("%d %v (the marker must not count)", n, err)
	}
	coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 3}}}})
	sum2, _, _ := Checksum(ctx, db.URI(), "caro")
	if sum1 == sum2 {
		t.Fatal("checksum did not change with a document")
	}
}
