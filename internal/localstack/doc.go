// Package localstack starts the local servers that tests and the local runner use instead of cloud
// services: FerretDB (MongoDB wire protocol on SQLite) for Atlas, local-kms for AWS KMS, gofakes3
// (in process) for S3, and Knot DNS for RFC 2136 DNS updates.
//
// Every server listens on 127.0.0.1 on a free port and keeps its data in a temporary folder that
// Stop removes, so test packages running in parallel never share state. Start each server a test
// package needs once, in TestMain, and stop it after m.Run:
//
//	var db *localstack.FerretDB
//
//	func TestMain(m *testing.M) {
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
//		var err error
//		db, err = localstack.StartFerretDB(ctx)
//		cancel()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		db.Stop()
//		os.Exit(code)
//	}
//
// The context given to a Start function bounds the start only (waiting until the server answers);
// the server runs until Stop. For a server of its own inside one test, use the ForTest variants
// (StartFerretDBForTest, ...), which fail the test on error and stop the server in t.Cleanup.
//
// The server binaries live in the cache folder ($CARO_CACHE, else .cache/ at the repository root),
// built by scripts/install-servers.sh (`make servers`). When a binary is missing or was built from
// an older pin, the Start functions run that script for the one server first, so a plain `go test`
// works on a fresh clone (the first FerretDB build takes about a minute). Only Linux and other Unix
// systems are supported (servers run in their own process group).
package localstack
