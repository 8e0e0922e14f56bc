package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/events"
	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/localrunner"
)

func init() { registerLocalCommand(newLocalUpCmd) }

// localUpOptions are the flags of `caro local up`.
type localUpOptions struct {
	addr      string
	web       string
	origin    string
	mongoURI  string
	database  string
	readyFile string
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
				Addr:       o.addr,
				WebDir:     o.web,
				Origin:     o.origin,
				MongoURI:   o.mongoURI,
				Database:   o.database,
				ReadyFile:  o.readyFile,
				NewHandler: localAPIHandler,
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
	return cmd
}

// newLocalAPIHandler is the API handler served locally. Until internal/api is wired in, it answers
// /health and a JSON 503 for everything else, so the runner, the token issuer and the front end
// can be exercised already.
func newLocalAPIHandler(_ context.Context, env localrunner.HandlerEnv) (localrunner.ProxyHandler, func(), error) {
	return localrunner.ProxyHandlerFunc(func(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		h := map[string]string{"Content-Type": "application/json"}
		if req.Path == "/health" {
			return events.APIGatewayProxyResponse{StatusCode: 200, Headers: h,
				Body: `{"status":"ok","region":"` + env.Region + `","handler":"placeholder"}`}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 503, Headers: h,
			Body: `{"error":"not_wired","message":"the API handler (internal/api) is not wired into the local runner yet","requestId":"` +
				req.RequestContext.RequestID + `"}`}, nil
	}), nil, nil
}
