package localrunner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/accesslog"
	"github.com/carohealth/platform/internal/devauth"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/trafficwatch"
)

// DefaultAddr is where the runner listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// HandlerEnv is what the runner tells the API handler factory: the same settings the Lambda reads
// from its environment (CARO_MONGODB_URI, CARO_DATABASE, CARO_REGION, CARO_ORIGIN_SECRET).
type HandlerEnv struct {
	MongoURI string
	Database string
	Region   string
	// Log is where the handler's own log lines go (the runner's stderr).
	Log io.Writer
}

// HandlerFactory builds the API handler once the database is up. The returned close function (may
// be nil) runs when the runner stops.
type HandlerFactory func(ctx context.Context, env HandlerEnv) (ProxyHandler, func(), error)

// Config configures Run.
type Config struct {
	// Addr is the loopback host:port to listen on ("127.0.0.1:0" picks a free port).
	Addr string
	// WebDir is the static front end folder.
	WebDir string
	// Origin is the CORS origin; empty means the runner's own base URL.
	Origin string
	// MongoURI, when set, is used instead of starting FerretDB.
	MongoURI string
	// Database is the database name (CARO_DATABASE), default "caro".
	Database string
	// Region is what the handler reports as its region, default "local".
	Region string
	// ReadyFile, when set, receives the base URL once the runner serves; it is removed on stop.
	ReadyFile string
	// AlertsFile, when set, receives the traffic watcher's alerts as JSON lines (they always go to
	// stderr too), so a test suite can check which attacks were noticed.
	AlertsFile string
	// BasePathInEventPath: see Options.BasePathInEventPath.
	BasePathInEventPath bool
	// NewHandler builds the API handler.
	NewHandler HandlerFactory
	// StartFerretDB starts the database when MongoURI is empty; nil means localstack.StartFerretDB.
	StartFerretDB func(ctx context.Context) (uri string, stop func() error, err error)
}

// Validate reports what is wrong with the configuration and what to do about it.
func (c *Config) Validate() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q is not host:port: use something like %s", c.Addr, DefaultAddr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--addr %q is not a loopback address: the runner issues development tokens to anyone who asks, so it listens on 127.0.0.1 or ::1 only", c.Addr)
	}
	if port == "" {
		return fmt.Errorf("--addr %q has no port: use something like %s", c.Addr, DefaultAddr)
	}
	if c.NewHandler == nil {
		return errors.New("local runner: no API handler factory")
	}
	if c.Database == "" {
		c.Database = "caro"
	}
	if c.Region == "" {
		c.Region = "local"
	}
	return nil
}

// Run starts the database (unless a URI is given), the API handler and the HTTP server, prints the
// base URL on out and a ready line on errOut (and writes the ready file), then serves until ctx is
// done and stops everything in reverse order.
func Run(ctx context.Context, cfg Config, out, errOut io.Writer) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another runner already up? pick another port with --addr)", cfg.Addr, err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()
	origin := cfg.Origin
	if origin == "" {
		origin = baseURL
	}

	uri := cfg.MongoURI
	if uri == "" {
		start := cfg.StartFerretDB
		if start == nil {
			start = startFerretDB
		}
		fmt.Fprintln(errOut, "caro local: starting FerretDB (the first start builds it, about a minute)...")
		u, stop, serr := start(ctx)
		if serr != nil {
			return fmt.Errorf("start FerretDB: %w (or pass --mongodb-uri to use a running server)", serr)
		}
		defer func() {
			fmt.Fprintln(errOut, "caro local: stopping FerretDB")
			if serr := stop(); serr != nil && err == nil {
				err = fmt.Errorf("stop FerretDB: %w", serr)
			}
		}()
		uri = u
		fmt.Fprintf(errOut, "caro local: FerretDB at %s\n", uri)
	}

	watcher, closeAlerts, err := localWatcher(cfg, errOut)
	if err != nil {
		return err
	}
	defer closeAlerts()
	// The handler's log passes through the watcher, as the function's log group does in AWS, so
	// its security signal lines raise alerts locally too.
	handlerLog := &lineTap{out: errOut, line: func(l string) {
		if err := watcher.ObserveLogLine(context.Background(), l, time.Now()); err != nil {
			fmt.Fprintf(errOut, "caro local: traffic watcher: %v\n", err)
		}
	}}
	handler, closeHandler, err := cfg.NewHandler(ctx, HandlerEnv{MongoURI: uri, Database: cfg.Database, Region: cfg.Region, Log: handlerLog})
	if err != nil {
		return fmt.Errorf("build the API handler: %w", err)
	}
	if closeHandler != nil {
		defer closeHandler()
	}
	issuer, err := devauth.NewIssuer()
	if err != nil {
		return err
	}
	watch := func(rec accesslog.Record) {
		if err := watcher.ObserveAccess(context.Background(), rec, time.Now()); err != nil {
			fmt.Fprintf(errOut, "caro local: traffic watcher: %v\n", err)
		}
	}
	srv, err := NewServer(Options{Handler: handler, Issuer: issuer, WebDir: cfg.WebDir, Origin: origin, Log: errOut,
		AllowedHosts: loopbackHosts(ln.Addr()), OnAccess: watch, BasePathInEventPath: cfg.BasePathInEventPath})
	if err != nil {
		return err
	}
	if cfg.WebDir != "" {
		if st, serr := os.Stat(cfg.WebDir); serr != nil || !st.IsDir() {
			fmt.Fprintf(errOut, "caro local: warning: web folder %q not found; non-API paths answer 404 (pass --web)\n", cfg.WebDir)
		}
	}

	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      IntegrationTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	if cfg.ReadyFile != "" {
		if err := writeReadyFile(cfg.ReadyFile, baseURL); err != nil {
			_ = httpSrv.Close()
			return err
		}
		defer os.Remove(cfg.ReadyFile)
	}
	fmt.Fprintln(out, baseURL)
	fmt.Fprintf(errOut, "caro local: ready at %s (API under %s/api, dev tokens at POST %s%s, CORS origin %s; Ctrl-C stops)\n",
		baseURL, baseURL, baseURL, TokenPath, origin)

	select {
	case <-ctx.Done():
		fmt.Fprintln(errOut, "caro local: stopping")
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		_ = httpSrv.Close()
	}
	return nil
}

// localWatcher runs the traffic watcher's rules on the runner's own access records, publishing
// alerts to stderr and the alerts file instead of SNS.
func localWatcher(cfg Config, errOut io.Writer) (*trafficwatch.Watcher, func(), error) {
	pub := &alertWriter{errOut: errOut}
	closeFn := func() {}
	if cfg.AlertsFile != "" {
		f, err := os.OpenFile(cfg.AlertsFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("open alerts file %s: %w", cfg.AlertsFile, err)
		}
		pub.file = f
		closeFn = func() { f.Close() }
	}
	w, err := trafficwatch.New(trafficwatch.Config{Region: cfg.Region}, pub, nil)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return w, closeFn, nil
}

// lineTap copies everything to out and hands each complete line to line.
type lineTap struct {
	mu   sync.Mutex
	out  io.Writer
	line func(string)
	buf  []byte
}

// Write implements io.Writer.
func (t *lineTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.out.Write(p)
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.line(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	if len(t.buf) > 1<<20 {
		t.buf = t.buf[:0] // a line longer than 1 MB is not a signal line
	}
	return n, err
}

// alertWriter is the local stand-in for the on-call topic.
type alertWriter struct {
	mu     sync.Mutex
	errOut io.Writer
	file   *os.File
}

// Publish implements trafficwatch.Publisher.
func (a *alertWriter) Publish(_ context.Context, al trafficwatch.Alert) error {
	b, err := json.Marshal(al)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.errOut, "caro local: ALERT %s\n", b)
	if a.file != nil {
		if _, err := a.file.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write alerts file: %w", err)
		}
	}
	return nil
}

// loopbackHosts are the Host header values that name the listener: its address, and localhost
// with its port.
func loopbackHosts(addr net.Addr) []string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return []string{addr.String()}
	}
	return []string{addr.String(), "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port}
}

// writeReadyFile writes the base URL atomically, so a script polling for the file never reads it
// half-written.
func writeReadyFile(path, baseURL string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".caro-local-ready-*")
	if err != nil {
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(baseURL + "\n"); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	return nil
}

func startFerretDB(ctx context.Context) (string, func() error, error) {
	db, err := localstack.StartFerretDB(ctx)
	if err != nil {
		return "", nil, err
	}
	return db.URI(), db.Stop, nil
}
