package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/api"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/health"
	"github.com/carohealth/platform/internal/localrunner"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
)

func init() { registerLocalCommand(newLocalUpCmd) }

// localUpOptions are the flags of `caro local up`.
type localUpOptions struct {
	addr       string
	web        string
	origin     string
	mongoURI   string
	database   string
	readyFile  string
	alertsFile string
	basePath   bool
}

// localAPIHandler builds the API handler the runner serves. It is a variable so tests can swap in
// a stub; by default it is the Lambda's own handler code.
var localAPIHandler localrunner.HandlerFactory = newLocalAPIHandler

func newLocalUpCmd(streams IOStreams) *cobra.Command {
	o := localUpOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Serve the API, the front end and a development token issuer on 127.0.0.1",
		Long: `Serve the platform on this machine until interrupted (Ctrl-C or SIGTERM):

  /api/...            the API, through the same handler code as the Lambda (API Gateway proxy events),
                      after checking the bearer token as the Cognito authorizer does
  POST /dev/token     a development-only token issuer: {"sub","tenantId","roles":[...]} -> signed JWT
                      (issuer https://caro-local.invalid/dev-only, refused by every deployed stage)
  everything else     the static front end from --web, including /.well-known/security.txt

The traffic watcher's rules run on the API's access records; alerts go to stderr (and --alerts-file).

Unless --mongodb-uri is given, the runner starts its own FerretDB and stops it on exit.
The base URL is printed on stdout (and written to --ready-file) once the runner serves;
progress and the request log go to stderr.`,
		Example: `  caro local up
  caro local up --addr 127.0.0.1:0 --ready-file /tmp/caro-local.url
  curl -s -X POST -H 'Content-Type: application/json' \
       -d '{"sub":"u1","tenantId":"t1","roles":["clinician"]}' http://127.0.0.1:8080/dev/token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return localrunner.Run(ctx, localrunner.Config{
				Addr:                o.addr,
				WebDir:              o.web,
				Origin:              o.origin,
				MongoURI:            o.mongoURI,
				Database:            o.database,
				ReadyFile:           o.readyFile,
				AlertsFile:          o.alertsFile,
				BasePathInEventPath: o.basePath,
				NewHandler:          localAPIHandler,
			}, streams.Out, streams.ErrOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", localrunner.DefaultAddr, "loopback host:port to listen on (port 0 picks a free one)")
	f.StringVar(&o.web, "web", "./web", "folder of the static front end")
	f.StringVar(&o.origin, "origin", "", "the one origin CORS allows (default: the runner's own base URL)")
	f.StringVar(&o.mongoURI, "mongodb-uri", "", "use this MongoDB/FerretDB instead of starting FerretDB")
	f.StringVar(&o.database, "database", "caro", "database name (CARO_DATABASE)")
	f.StringVar(&o.readyFile, "ready-file", "", "write the base URL to this file once serving (removed on exit)")
	f.BoolVar(&o.basePath, "event-path-with-base-path", false,
		"keep /api in the proxy event's path, as API Gateway custom domains with a base path mapping do")
	f.StringVar(&o.alertsFile, "alerts-file", "", "append the traffic watcher's alerts to this file as JSON lines (they also go to stderr)")
	return cmd
}

// newLocalAPIHandler builds what the Lambda functions run: internal/api's handler on the runner's
// database, and internal/health's for GET /health and GET /auth/config (their own function in the
// stack; no user pool here, so /auth/config answers 404 and the front end uses development tokens).
// Audit events stay in the documents' outboxes (no SNS locally); the reconciler publishes them where
// one runs.
func newLocalAPIHandler(ctx context.Context, env localrunner.HandlerEnv) (localrunner.ProxyHandler, func(), error) {
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(15 * time.Second).ApplyURI(env.MongoURI))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", redactURI(env.MongoURI), err)
	}
	db := client.Database(env.Database)
	logger := slog.New(slog.NewJSONHandler(env.Log, nil))
	// The erasure register: the same S3 code as the Lambda, on an in-process S3 (gofakes3) that
	// lives and dies with the runner like its FerretDB, so DELETE /subjects/{id} works locally.
	register, stopS3, err := localErasureRegister()
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, nil, err
	}
	closeClient := func() { _ = client.Disconnect(context.Background()); stopS3() }
	h, err := api.NewHandler(api.Config{DB: db, Erasures: register, Logger: logger})
	if err != nil {
		closeClient()
		return nil, nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.EnsureIndexes(ictx); err != nil {
		closeClient()
		return nil, nil, fmt.Errorf("create the API's indexes on %s: %w (is the database running? pass another --mongodb-uri or none to start FerretDB)", redactURI(env.MongoURI), err)
	}
	checker := health.New(health.Config{DB: db, Region: env.Region, Version: version, Logger: logger})
	return localrunner.Mux{
		Resources: map[string]localrunner.ProxyHandler{"/health": checker, health.AuthConfigPath: checker},
		Default:   h,
	}, closeClient, nil
}

// localErasureBucket is the local runner's erasure register bucket.
const localErasureBucket = "caro-local-erasures"

// localErasureRegister starts an in-process S3 with the register's bucket (throw-away, like the
// runner's database) and returns the register on it and the function that stops it.
func localErasureRegister() (*erasure.Register, func(), error) {
	srv, err := localstack.StartS3(localErasureBucket)
	if err != nil {
		return nil, nil, fmt.Errorf("start the local S3 for the erasure register: %w", err)
	}
	return erasure.NewRegister(objstore.NewS3(srv.Client("eu-west-1"), localErasureBucket, "")), func() { _ = srv.Stop() }, nil
}

// redactURI drops the user and password from a connection string before it is printed.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "the given MongoDB URI"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}
