package localstack_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/localstack"
)

// The pattern for every test package that needs local servers: start each server once in
// TestMain, share it between the tests (each test uses its own database, key or bucket names),
// and stop it after m.Run. Tests that check the start/stop life cycle start their own.
var (
	ferret *localstack.FerretDB
	kmsSrv *localstack.KMS
	s3Srv  *localstack.S3
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Generous: on a fresh clone the first start builds the binaries (about a minute each).
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

	if s3Srv, err = localstack.StartS3("caro-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s3Srv.Stop()

	return m.Run()
}

// assertPortFree checks that nothing listens on addr any more after Stop.
func assertPortFree(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s still taken after Stop: %v", addr, err)
	}
	l.Close()
}
