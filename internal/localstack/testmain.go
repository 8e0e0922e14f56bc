package localstack

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// RunWithFerretDB is the TestMain of a package whose tests share one database server: it starts
// FerretDB, connects a client, lets setup keep them (package variables, indexes), runs the tests,
// then disconnects and stops the server. It returns the exit status for os.Exit; a server that does
// not start, or a failed setup, fails the whole package with its reason.
//
//	func TestMain(m *testing.M) {
//		os.Exit(localstack.RunWithFerretDB(m, func(uri string, c *mongo.Client) error { ...; return nil }))
//	}
func RunWithFerretDB(m *testing.M, setup func(uri string, client *mongo.Client) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	srv, err := StartFerretDB(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "connecting to the test FerretDB:", err)
		return 1
	}
	defer client.Disconnect(context.Background())
	if err := setup(srv.URI(), client); err != nil {
		fmt.Fprintln(os.Stderr, "test setup:", err)
		return 1
	}
	return m.Run()
}
