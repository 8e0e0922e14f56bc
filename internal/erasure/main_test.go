package erasure

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
)

// One FerretDB and one in-process S3 for the package; each test uses its own database and bucket.
var (
	testClient *mongo.Client
	s3Srv      *localstack.S3
	s3Client   *s3.Client
)

func TestMain(m *testing.M) {
	var err error
	if s3Srv, err = localstack.StartS3(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s3Client = s3.NewFromConfig(localstack.AWSConfig("eu-west-1", s3Srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	code := localstack.RunWithFerretDB(m, func(_ string, c *mongo.Client) error {
		testClient = c
		return nil
	})
	_ = s3Srv.Stop()
	os.Exit(code)
}

// newStore makes a fresh bucket for one test.
func newStore(t *testing.T) objstore.Store {
	t.Helper()
	name := fmt.Sprintf("erasure-%d", time.Now().UnixNano())
	if err := s3Srv.CreateBucket(name); err != nil {
		t.Fatal(err)
	}
	return objstore.NewS3(s3Client, name, "")
}

func newDB(t *testing.T) *mongo.Database {
	t.Helper()
	db := testClient.Database(fmt.Sprintf("erasure_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db
}
