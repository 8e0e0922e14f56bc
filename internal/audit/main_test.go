package audit_test

import (
	"os"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/localstack"
)

var testDB *mongo.Database

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(_ string, client *mongo.Client) error {
		testDB = client.Database("audit_test")
		return nil
	}))
}
