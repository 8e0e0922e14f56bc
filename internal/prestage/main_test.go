package prestage

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

// One FerretDB, local-kms and in-process S3 for the package.
var (
	ferret    *localstack.FerretDB
	kmsClient *kms.Client
	s3Client  *s3.Client
	mongoC    *mongo.Client
	keyARN    string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	if ferret, err = localstack.StartFerretDB(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ferret.Stop()
	kmsSrv, err := localstack.StartKMS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kmsSrv.Stop()
	s3Srv, err := localstack.StartS3()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s3Srv.Stop()
	kmsClient = kms.NewFromConfig(localstack.AWSConfig("eu-central-1", kmsSrv.Endpoint()))
	s3Client = s3.NewFromConfig(localstack.AWSConfig("eu-central-1", s3Srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	out, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("prestage test")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keyARN = aws.ToString(out.KeyMetadata.Arn)
	if mongoC, err = mongo.Connect(options.Client().ApplyURI(ferret.URI())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer mongoC.Disconnect(context.Background())
	return m.Run()
}

func newBucket(t testing.TB) backup.ObjectStore {
	t.Helper()
	name := fmt.Sprintf("p%d", time.Now().UnixNano())
	if _, err := s3Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return backup.NewS3Store(s3Client, name, "")
}
