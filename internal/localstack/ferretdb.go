package localstack

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// FerretDB is a running FerretDB v1.24.0 with the SQLite backend: a MongoDB wire-protocol server
// for tests. Its data lives in a temporary folder that Stop removes.
//
// What FerretDB v1.24.0 does not do (do not rely on it in code tested here): transactions, TTL
// indexes, change streams, authentication (URIs carry no credentials). Single-document atomicity
// and unique indexes work.
type FerretDB struct {
	proc *process
	port int
}

// StartFerretDB starts FerretDB on a free 127.0.0.1 port and returns once it answers a MongoDB
// ping. ctx bounds the start only; the server runs until Stop. The binary is built first if it is
// missing (see Install).
func StartFerretDB(ctx context.Context) (*FerretDB, error) {
	bin, err := binary("ferretdb", "ferretdb")
	if err != nil {
		return nil, err
	}
	return startWithRetry(func() (*FerretDB, bool, error) { return startFerretDB(ctx, bin) })
}

func startFerretDB(ctx context.Context, bin string) (*FerretDB, bool, error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	dir, err := newTempDir("ferretdb")
	if err != nil {
		return nil, false, err
	}
	args := []string{
		"--handler=sqlite",
		"--sqlite-url=file:" + dir + "/",
		"--listen-addr=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--state-dir=" + dir, // state.json; the default is the working directory
		"--debug-addr=-",     // the default 127.0.0.1:8088 would clash between parallel packages
		"--telemetry=disable",
		"--log-level=warn",
	}
	// DO_NOT_TRACK switches telemetry off too, should the flag ever be ignored.
	proc, err := startProcess("ferretdb", dir, bin, args, []string{"DO_NOT_TRACK=1"})
	if err != nil {
		_ = removeDir(dir)
		return nil, false, err
	}
	f := &FerretDB{proc: proc, port: port}
	if err := proc.waitReady(ctx, f.ping); err != nil {
		taken := proc.addrInUse()
		_ = proc.stop()
		return nil, taken, err
	}
	return f, false, nil
}

// StartFerretDBForTest starts FerretDB for one test: it fails tb if the server does not start and
// stops it in tb.Cleanup. Prefer one server per package, started in TestMain with StartFerretDB.
func StartFerretDBForTest(tb testing.TB) *FerretDB {
	tb.Helper()
	return startForTest(tb, StartFerretDB)
}

// URI returns the connection string, like mongodb://127.0.0.1:PORT/ (no credentials: FerretDB
// runs without authentication here).
func (f *FerretDB) URI() string {
	return "mongodb://" + f.Addr() + "/"
}

// Addr returns the host:port the server listens on.
func (f *FerretDB) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))
}

// Logs returns the end of the server's log (warnings and errors), for test failure messages;
// call it before Stop, which removes the log.
func (f *FerretDB) Logs() string {
	return f.proc.logs()
}

// CPUTime returns the CPU time the server has used since it started (Linux only). Benchmarks
// compare it with the wall time of a client run: a server busy the whole run is the bottleneck.
func (f *FerretDB) CPUTime() (time.Duration, error) {
	return f.proc.cpuTime()
}

// PeakRSS returns the server's peak resident memory in bytes (Linux only): benchmarks report it
// apart from the client's.
func (f *FerretDB) PeakRSS() (int64, error) {
	return f.proc.peakRSS()
}

// Stop ends the server and removes its data. Calling it again returns the first result.
func (f *FerretDB) Stop() error {
	return f.proc.stop()
}

// ping checks the server answers the MongoDB protocol. A cheap TCP dial first keeps the start
// loop from paying for a driver connection while the port is not open yet.
func (f *FerretDB) ping(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", f.Addr())
	if err != nil {
		return err
	}
	c.Close()

	opts := options.Client().ApplyURI(f.URI()).
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetDirect(true)
	client, err := mongo.Connect(opts)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer client.Disconnect(context.Background())
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return client.Database("admin").RunCommand(pctx, bson.D{{Key: "ping", Value: 1}}).Err()
}
