package api

import (
	"context"
	"encoding/json"
	"github.com/carohealth/platform/internal/lambdasecrets"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/audit"
)

func TestEntrypointDispatch(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-e", uniqueTenant("entry"), "clinician"}
	e.sns.SetFailing(true)
	e.createPatient(u)
	e.sns.SetFailing(false)
	ep := &Entrypoint{API: e.h, Reconciler: NewReconciler(testDB, e.sns.Publisher())}

	scheduled := `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"1","time":"2026-11-23T06:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:1:rule/outbox"],"detail":{}}`
	out, err := ep.Invoke(context.Background(), json.RawMessage(scheduled))
	if err != nil {
		t.Fatal(err)
	}
	if res := out.(audit.ReconcileResult); res.Published < 1 {
		t.Fatalf("reconciler published %+v", res)
	}
	found := false
	for _, ev := range e.sns.Events() {
		found = found || ev.TenantID == u.tenant
	}
	if !found {
		t.Fatal("pending event not published by the scheduled run")
	}

	raw, _ := json.Marshal(e.request(u, "GET", "/patients", ""))
	out, err = ep.Invoke(context.Background(), raw)
	if err != nil || out.(events.APIGatewayProxyResponse).StatusCode != 200 {
		t.Fatalf("proxy event: %v %+v", err, out)
	}
	if _, err := ep.Invoke(context.Background(), json.RawMessage(`{"Records":[]}`)); err == nil {
		t.Fatal("unknown event accepted")
	}
}

func TestEnvFrom(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := EnvFrom(env(map[string]string{}), false); err == nil {
		t.Fatal("no database accepted")
	}
	if _, err := EnvFrom(env(map[string]string{EnvMongoURI: "mongodb://x"}), true); err == nil {
		t.Fatal("api without audit topic accepted")
	}
	e, err := EnvFrom(env(map[string]string{EnvMongoURISecretARN: "arn:s", EnvAuditTopicARN: "arn:t"}), true)
	if err != nil || e.Database != "caro" {
		t.Fatalf("%v %+v", err, e)
	}
}

func TestSecretFromExtension(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/secretsmanager/get" || r.URL.Query().Get("secretId") != "arn:aws:secretsmanager:eu-west-1:1:secret:caro/uri" ||
			r.Header.Get("X-Aws-Parameters-Secrets-Token") != "session-token" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"SecretString":"` + testURI + `"}`))
	}))
	defer fake.Close()
	old := lambdasecrets.Endpoint
	lambdasecrets.Endpoint = fake.URL
	defer func() { lambdasecrets.Endpoint = old }()
	getenv := func(k string) string {
		if k == "AWS_SESSION_TOKEN" {
			return "session-token"
		}
		return ""
	}
	client, err := Connect(context.Background(), Env{MongoURISecretARN: "arn:aws:secretsmanager:eu-west-1:1:secret:caro/uri"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	if err := client.Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(context.Background(), Env{MongoURISecretARN: "arn:other"}, getenv); err == nil {
		t.Fatal("refused secret accepted")
	}
}
