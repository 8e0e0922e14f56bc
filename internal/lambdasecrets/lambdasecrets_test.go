package lambdasecrets

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// extensionFake answers like the Parameters and Secrets extension: GET /secretsmanager/get with the
// session token header.
func extensionFake(t *testing.T) {
	t.Helper()
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/secretsmanager/get":
			w.WriteHeader(http.StatusNotFound)
		case r.Header.Get("X-Aws-Parameters-Secrets-Token") != "session-token":
			w.WriteHeader(http.StatusForbidden)
		case r.URL.Query().Get("secretId") == "arn:aws:secretsmanager:eu-west-1:1:secret:caro/uri":
			_, _ = w.Write([]byte(`{"SecretString":"mongodb://user:pw@host/"}`))
		case r.URL.Query().Get("secretId") == "arn:binary":
			_, _ = w.Write([]byte(`{"SecretBinary":"AAEC"}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(fake.Close)
	old := Endpoint
	Endpoint = fake.URL
	t.Cleanup(func() { Endpoint = old })
}

func TestGetReadsTheSecretString(t *testing.T) {
	extensionFake(t)
	got, err := Get(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:caro/uri", "session-token")
	if err != nil || got != "mongodb://user:pw@host/" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestGetErrorsNameTheSecretNotItsValue(t *testing.T) {
	extensionFake(t)
	cases := map[string]struct{ arn, token, want string }{
		"wrong token":      {"arn:aws:secretsmanager:eu-west-1:1:secret:caro/uri", "other", "403"},
		"unknown secret":   {"arn:other", "session-token", "400"},
		"no secret string": {"arn:binary", "session-token", "no SecretString"},
	}
	for name, c := range cases {
		_, err := Get(context.Background(), c.arn, c.token)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.arn) {
			t.Errorf("%s: error %v, want one naming %s and %q", name, err, c.arn, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
	Endpoint = "http://127.0.0.1:1"
	if _, err := Get(context.Background(), "arn:x", "t"); err == nil || !strings.Contains(err.Error(), "Extension layer") {
		t.Errorf("unreachable extension: %v", err)
	}
}
