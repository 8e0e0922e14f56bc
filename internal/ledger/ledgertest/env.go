package ledgertest

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
)

// Region is the region the local AWS clients sign for.
const Region = "eu-west-1"

// Servers are the local servers of one test package: start once in TestMain.
type Servers struct {
	FerretDB *localstack.FerretDB
	KMS      *localstack.KMS
	S3       *localstack.S3
	Shim     *ObjectLockShim
	shimSrv  *httptest.Server
}

// StartServers starts FerretDB, local-kms and gofakes3 behind the Object Lock shim.
func StartServers(ctx context.Context) (*Servers, error) {
	s := &Servers{}
	var err error
	if s.FerretDB, err = localstack.StartFerretDB(ctx); err != nil {
		return nil, err
	}
	if s.KMS, err = localstack.StartKMS(ctx, localstack.WithKMSRegion(Region)); err != nil {
		s.Stop()
		return nil, err
	}
	if s.S3, err = localstack.StartS3(); err != nil {
		s.Stop()
		return nil, err
	}
	s.Shim = NewObjectLockShim(s.S3.Handler(), ledger.DefaultRetentionYears)
	s.shimSrv = httptest.NewServer(s.Shim)
	return s, nil
}

// Stop stops every server started.
func (s *Servers) Stop() {
	if s.shimSrv != nil {
		s.shimSrv.Close()
	}
	if s.S3 != nil {
		_ = s.S3.Stop()
	}
	if s.KMS != nil {
		_ = s.KMS.Stop()
	}
	if s.FerretDB != nil {
		_ = s.FerretDB.Stop()
	}
}

// S3Endpoint is the shim's URL (use it, not S3.Endpoint, so Object Lock applies).
func (s *Servers) S3Endpoint() string { return s.shimSrv.URL }

// Env is one test's ledger: its own database, bucket and signing key on the shared servers.
type Env struct {
	Servers    *Servers
	Client     *mongo.Client
	DB         *mongo.Database
	Store      *ledger.MongoStore
	S3         *s3.Client
	KMS        *kms.Client
	Bucket     *ledger.CheckpointBucket
	Signer     *ledger.KMSSigner
	PublicKey  []byte
	BucketName string
}

var envCounter int

// NewEnv creates a fresh database, bucket and KMS signing key.
func (s *Servers) NewEnv(tb testing.TB) *Env {
	tb.Helper()
	ctx := context.Background()
	envCounter++
	name := fmt.Sprintf("ledger%d%d", time.Now().UnixNano()%1_000_000, envCounter)
	e := &Env{Servers: s, BucketName: name}
	var err error
	e.Client, err = mongo.Connect(options.Client().ApplyURI(s.FerretDB.URI()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Client.Disconnect(context.Background()) })
	e.DB = e.Client.Database(name)
	e.Store = ledger.NewMongoStore(e.DB)
	if err := e.Store.EnsureIndexes(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.S3.CreateBucket(name); err != nil {
		tb.Fatal(err)
	}
	e.S3 = s3.NewFromConfig(localstack.AWSConfig(Region, s.S3Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	// Object Lock requires versioning; the real bucket has it (constructs/ledger).
	if _, err := e.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		tb.Fatal(err)
	}
	e.Bucket = &ledger.CheckpointBucket{Client: e.S3, Name: name}
	e.KMS = kms.NewFromConfig(localstack.AWSConfig(Region, s.KMS.Endpoint()))
	out, err := e.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("ledger test signing key")})
	if err != nil {
		tb.Fatal(err)
	}
	e.Signer = &ledger.KMSSigner{Client: e.KMS, Key: aws.ToString(out.KeyMetadata.Arn)}
	if e.PublicKey, err = e.Signer.PublicKey(ctx); err != nil {
		tb.Fatal(err)
	}
	return e
}

// Checkpointer returns a checkpointer on the env cutting every interval entries, and only then: its
// MaxAge never expires, because test events carry fixed times (a MaxAge of a day made every append
// cut its own checkpoint once the wall clock passed those times by a day).
func (e *Env) Checkpointer(interval uint64) *ledger.Checkpointer {
	return &ledger.Checkpointer{Entries: e.Store, Records: e.Store, Bucket: e.Bucket, Signer: e.Signer, Interval: interval, MaxAge: neverDue}
}

// neverDue is a MaxAge no entry reaches (about 146 years).
const neverDue = time.Duration(1 << 62)

// Verifier returns a verifier on the env.
func (e *Env) Verifier(tb testing.TB) *ledger.Verifier {
	pub, err := ledger.ParsePublicKey(e.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	// MaxAge as the env's checkpointer's: test events carry fixed times, and only Interval cuts.
	return &ledger.Verifier{Entries: e.Store, Checkpoints: e.Bucket, Locks: e.Bucket, PublicKey: pub, RetentionYears: ledger.DefaultRetentionYears,
		MaxAge: neverDue}
}

// StartServersForTest starts the servers for one test and stops them in tb.Cleanup (for packages
// whose TestMain belongs to someone else).
func StartServersForTest(tb testing.TB) *Servers {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := StartServers(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// PublicKeyPEM is the env's public key as a PEM file's contents.
func (e *Env) PublicKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: e.PublicKey})
}
