package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
)

var (
	testClient *mongo.Client
	testDB     *mongo.Database
	testURI    string
)

// erasureBucket is the in-process S3 bucket holding the tests' erasure register.
const erasureBucket = "erasure-register"

var (
	s3Srv    *localstack.S3
	register *erasure.Register
)

func TestMain(m *testing.M) {
	var err error
	if s3Srv, err = localstack.StartS3(erasureBucket); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s3c := s3.NewFromConfig(localstack.AWSConfig("eu-west-1", s3Srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	register = erasure.NewRegister(objstore.NewS3(s3c, erasureBucket, ""))
	code := localstack.RunWithFerretDB(m, func(uri string, client *mongo.Client) error {
		testURI, testClient = uri, client
		testDB = client.Database("api_test")
		h, err := NewHandler(Config{DB: testDB})
		if err != nil {
			return err
		}
		return h.EnsureIndexes(context.Background())
	})
	_ = s3Srv.Stop()
	os.Exit(code)
}

// env is one test's handler with an SNS fake as its audit topic.
type env struct {
	t   *testing.T
	h   *Handler
	sns *audittest.SNSFake
	n   int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sns := audittest.NewSNSFake(t)
	h, err := NewHandler(Config{DB: testDB, Publisher: sns.Publisher(), Erasures: register, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, sns: sns}
}

// user is a principal's claims as the Cognito authorizer passes them.
type user struct {
	sub, tenant, roles string
}

func uniqueTenant(prefix string) string {
	return prefix + "-" + NewID()[:8]
}

func (u user) claims() map[string]any {
	if u.tenant == "" {
		return nil
	}
	return map[string]any{"sub": u.sub, "custom:tenant_id": u.tenant, "custom:roles": u.roles}
}

type reqOpt func(*events.APIGatewayProxyRequest)

func withQuery(q map[string]string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.QueryStringParameters = q }
}

func withHeader(k, v string) reqOpt {
	return func(r *events.APIGatewayProxyRequest) { r.Headers[k] = v }
}

func (e *env) request(u user, method, path, body string, opts ...reqOpt) events.APIGatewayProxyRequest {
	e.n++
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Body: body,
		Headers: map[string]string{}}
	if body != "" {
		req.Headers["content-type"] = "application/json"
	}
	req.RequestContext.RequestID = fmt.Sprintf("req-%s-%d", e.t.Name(), e.n)
	if c := u.claims(); c != nil {
		req.RequestContext.Authorizer = map[string]any{"claims": c}
	}
	for _, o := range opts {
		o(&req)
	}
	return req
}

func (e *env) do(u user, method, path, body string, opts ...reqOpt) events.APIGatewayProxyResponse {
	e.t.Helper()
	resp, err := e.h.Handle(context.Background(), e.request(u, method, path, body, opts...))
	if err != nil {
		e.t.Fatalf("%s %s: handler returned an error: %v", method, path, err)
	}
	if resp.Headers["Content-Type"] != "application/json; charset=utf-8" {
		e.t.Fatalf("%s %s: content type %q", method, path, resp.Headers["Content-Type"])
	}
	if resp.StatusCode >= 400 {
		var er ErrorResponse
		dec := json.NewDecoder(strings.NewReader(resp.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&er); err != nil || er.Error == "" || er.Message == "" || er.RequestID == "" {
			e.t.Fatalf("%s %s: error body %q is not the documented shape", method, path, resp.Body)
		}
		for _, leak := range []string{"goroutine", ".go:", "mongo", "panic", "ferret", "sqlite"} {
			if strings.Contains(strings.ToLower(er.Message), leak) {
				e.t.Fatalf("%s %s: error message leaks %q: %s", method, path, leak, er.Message)
			}
		}
	}
	return resp
}

// expect calls do and checks the status (and the error code when want is an error status).
func (e *env) expect(status int, code string, u user, method, path, body string, opts ...reqOpt) events.APIGatewayProxyResponse {
	e.t.Helper()
	resp := e.do(u, method, path, body, opts...)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, resp.Body)
	}
	if code != "" {
		var er ErrorResponse
		_ = json.Unmarshal([]byte(resp.Body), &er)
		if er.Error != code {
			e.t.Fatalf("%s %s: error %q, want %q (%s)", method, path, er.Error, code, er.Message)
		}
	}
	return resp
}

func decode[T any](t *testing.T, resp events.APIGatewayProxyResponse) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("response %q: %v", resp.Body, err)
	}
	return v
}

// eventsFor returns the published events of one request ID.
func (e *env) eventsFor(requestID string) []audit.Event {
	var out []audit.Event
	for _, ev := range e.sns.Events() {
		if ev.RequestID == requestID {
			out = append(out, ev)
		}
	}
	return out
}

// lastRequestID is the request ID the previous do call used.
func (e *env) lastRequestID() string { return fmt.Sprintf("req-%s-%d", e.t.Name(), e.n) }

const adaJSON = `{"givenName":"Ada","familyName":"Lovelace","birthDate":"1990-12-10"}`

func (e *env) createPatient(u user) Patient {
	e.t.Helper()
	return decode[Patient](e.t, e.expect(201, "", u, "POST", "/patients", adaJSON))
}

func (e *env) createNote(u user, patientID, text string) Note {
	e.t.Helper()
	b, _ := json.Marshal(NoteInput{Text: text})
	return decode[Note](e.t, e.expect(201, "", u, "POST", "/patients/"+patientID+"/notes", string(b)))
}
