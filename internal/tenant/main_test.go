package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/tenant/cognitotest"
)

// One FerretDB, local-kms and in-process S3 for the package; every test has its own database,
// bucket and user pool.
var (
	ferret    *localstack.FerretDB
	kmsSrv    *localstack.KMS
	s3Srv     *localstack.S3
	mongoC    *mongo.Client
	s3Client  *s3.Client
	kmsClient *kms.Client
	keyARN    string
)

const (
	testRegion = "eu-west-1"
	testPool   = "eu-west-1_TestPool"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	if ferret, err = localstack.StartFerretDB(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ferret.Stop()
	if kmsSrv, err = localstack.StartKMS(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kmsSrv.Stop()
	if s3Srv, err = localstack.StartS3(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s3Srv.Stop()
	if err := connect(ctx, ferret.URI(), s3Srv.Endpoint(), kmsSrv.Endpoint()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mongoC.Disconnect(context.Background())
	out, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("tenant test backup key")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keyARN = aws.ToString(out.KeyMetadata.Arn)
	return m.Run()
}

// connect makes the package's clients (the child process of the kill test connects the same way).
func connect(_ context.Context, mongoURI, s3Endpoint, kmsEndpoint string) error {
	var err error
	if mongoC, err = mongo.Connect(options.Client().ApplyURI(mongoURI)); err != nil {
		return err
	}
	s3Client = s3.NewFromConfig(localstack.AWSConfig(testRegion, s3Endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	if kmsEndpoint != "" {
		kmsClient = kms.NewFromConfig(localstack.AWSConfig(testRegion, kmsEndpoint))
	}
	return nil
}

var seq atomic.Int64

// newDB returns a fresh database of the test's own.
func newDB(t testing.TB) *mongo.Database {
	t.Helper()
	db := mongoC.Database(fmt.Sprintf("tenant_%d_%d", time.Now().UnixNano()%1e9, seq.Add(1)))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db
}

// newBucket creates a fresh bucket and returns its store and name.
func newBucket(t testing.TB) (objstore.Store, string) {
	t.Helper()
	name := fmt.Sprintf("tenant-%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
	if err := s3Srv.CreateBucket(name); err != nil {
		t.Fatal(err)
	}
	return objstore.NewS3(s3Client, name, ""), name
}

// cognitoUsers returns the users of the fake pool f through the real SDK client.
func cognitoUsers(f *cognitotest.Fake) *CognitoUsers {
	return &CognitoUsers{Client: cognitoClient(f.URL), UserPoolID: f.PoolID, DeletesPerSecond: 10000}
}

// cognitoClient is a Cognito client of the fake at url.
func cognitoClient(url string) *cip.Client {
	return cip.NewFromConfig(localstack.AWSConfig(testRegion, url))
}

var testOrigin = audit.Origin{Actor: "os-user:test-operator", Interface: audit.InterfaceCLI, RequestID: "0123456789abcdef0123456789abcdef"}

// newOrigin is a fresh origin of one command run.
func newOrigin() audit.Origin {
	return audit.Origin{Actor: testOrigin.Actor, Interface: audit.InterfaceCLI, RequestID: audit.NewEventID()}
}

// seedTenant writes n patients with two notes each and their subject keys into tenant, in the
// API's document shape, plus users users in the pool.
func seedTenant(t testing.TB, db *mongo.Database, pool *cognitotest.Fake, tenant string, n, users int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const chunk = 500
	for start := 0; start < n; start += chunk {
		var patients, notes []any
		var ids []string
		for i := start; i < min(start+chunk, n); i++ {
			pid := fmt.Sprintf("%08x%024x", seq.Add(1), i)
			ids = append(ids, pid)
			patients = append(patients, bson.D{{Key: "_id", Value: tenant + ":" + pid}, {Key: "tenantId", Value: tenant}, {Key: "version", Value: 1},
				{Key: "givenName", Value: fmt.Sprintf("Given%s%d", tenant, i)}, {Key: "familyName", Value: "Family"}, {Key: "birthDate", Value: "1970-01-01"},
				{Key: "createdAt", Value: now}, {Key: "updatedAt", Value: now}})
			for k := range 2 {
				notes = append(notes, bson.D{{Key: "_id", Value: fmt.Sprintf("%s:%s%d", tenant, pid[:31], k)}, {Key: "tenantId", Value: tenant},
					{Key: "patientId", Value: pid}, {Key: "version", Value: 1}, {Key: "text", Value: fmt.Sprintf("note %d of %s", k, pid)},
					{Key: "createdAt", Value: now}, {Key: "updatedAt", Value: now}})
			}
		}
		if _, err := db.Collection(erasure.PatientsCollection).InsertMany(ctx, patients); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection(erasure.NotesCollection).InsertMany(ctx, notes); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.NewSubjectKeys(db).CreateMany(ctx, tenant, ids); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users {
		pool.AddUser(fmt.Sprintf("+31%s%05d", tenant, i), tenant, fmt.Sprintf("sub-%s-%d", tenant, i))
	}
}

// apiPatient creates one patient with a note through the real API handler (its audit events stay
// pending: no publisher), as the deployed function writes them.
func apiPatient(t testing.TB, db *mongo.Database, register objstore.Store, tenant string) {
	t.Helper()
	h, err := api.NewHandler(api.Config{DB: db, Erasures: erasure.NewRegister(register), KeyPoolSize: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, want int) string {
		t.Helper()
		resp, err := h.Handle(context.Background(), apiRequest(tenant, method, path, body))
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s (%v)", method, path, resp.StatusCode, resp.Body, err)
		}
		return resp.Body
	}
	id := jsonField(t, call("POST", "/patients", `{"givenName":"Api","familyName":"Patient","birthDate":"1980-02-03"}`, 201), "id")
	call("POST", "/patients/"+id+"/notes", `{"text":"written through the API"}`, 201)
}

func apiRequest(tenant, method, path, body string) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Body: body, Headers: map[string]string{"content-type": "application/json"}}
	req.RequestContext.RequestID = audit.NewEventID()
	req.RequestContext.Authorizer = map[string]any{"claims": map[string]any{"sub": "u-clinician", "custom:tenant_id": tenant, "custom:roles": "clinician"}}
	return req
}

func jsonField(t testing.TB, body, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	s, _ := m[field].(string)
	return s
}

func countTenant(t testing.TB, db *mongo.Database, coll, tenant string) int64 {
	t.Helper()
	n, err := db.Collection(coll).CountDocuments(context.Background(), bson.D{{Key: "tenantId", Value: tenant}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
