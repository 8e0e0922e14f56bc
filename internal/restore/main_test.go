package restore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/localstack"
)

// One FerretDB, local-kms and in-process S3 for the package; every test uses its own databases
// and bucket so tests stay independent.
var (
	ferret    *localstack.FerretDB
	kmsSrv    *localstack.KMS
	s3Srv     *localstack.S3
	kmsClient *kms.Client
	s3Client  *s3.Client
	mongoC    *mongo.Client
	keyARN    string // the "multi-Region" backup key
	otherKey  string // another key, for wrong-key tests
	peerKey   string // the peer region's key: restores accept it too
)

const testRegion = "eu-west-1"

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
	kmsClient = kms.NewFromConfig(localstack.AWSConfig(testRegion, kmsSrv.Endpoint()))
	s3Client = s3.NewFromConfig(localstack.AWSConfig(testRegion, s3Srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	for _, k := range []*string{&keyARN, &otherKey, &peerKey} {
		out, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("backup test")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*k = aws.ToString(out.KeyMetadata.Arn)
	}
	if mongoC, err = mongo.Connect(options.Client().ApplyURI(ferret.URI())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mongoC.Disconnect(context.Background())
	return m.Run()
}

// newBucket creates a fresh bucket and returns a store for it.
func newBucket(t testing.TB) backup.ObjectStore {
	t.Helper()
	s, _ := newNamedBucket(t)
	return s
}

// newNamedBucket creates a fresh bucket and returns a store for it and its name.
func newNamedBucket(t testing.TB) (backup.ObjectStore, string) {
	t.Helper()
	name := fmt.Sprintf("b%d", time.Now().UnixNano())
	if _, err := s3Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return backup.NewS3Store(s3Client, name, ""), name
}
