package backup

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
)

const testRegion = "eu-west-1"

func TestMain(m *testing.M) {
	if os.Getenv(envPartWorker) != "" {
		os.Exit(partWorkerMain()) // a range worker the test kills (part_test.go)
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
	for _, k := range []*string{&keyARN, &otherKey} {
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
func newBucket(t testing.TB) ObjectStore {
	t.Helper()
	name := fmt.Sprintf("b%d", time.Now().UnixNano())
	if _, err := s3Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return NewS3Store(s3Client, name, "")
}
