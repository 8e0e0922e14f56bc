package backupengine

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

// One FerretDB per region, one local-kms and one in-process S3 for the package.
var (
	primaryDB, standbyDB *localstack.FerretDB
	kmsClient            *kms.Client
	s3Client             *s3.Client
	primaryC, standbyC   *mongo.Client
	keyARN               string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }
	if primaryDB, err = localstack.StartFerretDB(ctx); err != nil {
		return fail(err)
	}
	defer primaryDB.Stop()
	if standbyDB, err = localstack.StartFerretDB(ctx); err != nil {
		return fail(err)
	}
	defer standbyDB.Stop()
	kmsSrv, err := localstack.StartKMS(ctx)
	if err != nil {
		return fail(err)
	}
	defer kmsSrv.Stop()
	s3Srv, err := localstack.StartS3()
	if err != nil {
		return fail(err)
	}
	defer s3Srv.Stop()
	kmsClient = kms.NewFromConfig(localstack.AWSConfig("eu-west-1", kmsSrv.Endpoint()))
	s3Client = s3.NewFromConfig(localstack.AWSConfig("eu-west-1", s3Srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	out, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("engine test")})
	if err != nil {
		return fail(err)
	}
	keyARN = aws.ToString(out.KeyMetadata.Arn)
	if primaryC, err = mongo.Connect(options.Client().ApplyURI(primaryDB.URI())); err != nil {
		return fail(err)
	}
	defer primaryC.Disconnect(context.Background())
	if standbyC, err = mongo.Connect(options.Client().ApplyURI(standbyDB.URI())); err != nil {
		return fail(err)
	}
	defer standbyC.Disconnect(context.Background())
	return m.Run()
}

func newBucket(t testing.TB) (backup.ObjectStore, string) {
	t.Helper()
	name := fmt.Sprintf("e%d", time.Now().UnixNano())
	if _, err := s3Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return backup.NewS3Store(s3Client, name, ""), name
}
