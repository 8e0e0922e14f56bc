package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func signInRequest(t *testing.T, c *Checker, method, path string) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := c.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: method, Path: path,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "c0ffee00-1111-4222-8333-444455556666"}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func assertErrorBody(t *testing.T, resp events.APIGatewayProxyResponse, status int, code string) errorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, resp.Body)
	}
	var e errorBody
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", resp.Body, err)
	}
	if e.Error != code || e.Message == "" || e.RequestID != "c0ffee00-1111-4222-8333-444455556666" {
		t.Fatalf("error body %+v, want code %s with a message and the request ID", e, code)
	}
	assertHeaders(t, resp)
	return e
}

func assertHeaders(t *testing.T, resp events.APIGatewayProxyResponse) {
	t.Helper()
	for k, want := range map[string]string{"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "X-Request-Id": "c0ffee00-1111-4222-8333-444455556666"} {
		if got := resp.Headers[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestAuthConfigAnswersTheServingRegionsPoolAndClient(t *testing.T) {
	// GIVEN the health function of eu-west-1 with its pool and web client
	env := map[string]string{EnvRegion: "eu-west-1", EnvUserPoolID: "eu-west-1_AbCdEf123", EnvUserPoolClientID: "4tq1abcdefghijklmnopqrstuv"}
	c := New(Config{Region: "eu-west-1", Logger: quiet(), SignIn: SignInConfigFrom(func(k string) string { return env[k] })})

	for _, path := range []string{"/auth/config", "/api/auth/config"} {
		// WHEN the front end asks for the sign-in configuration (with and without the base path)
		resp := signInRequest(t, c, "GET", path)

		// THEN it gets exactly the contract's three fields, never cached
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Body)
		}
		want := `{"region":"eu-west-1","userPoolId":"eu-west-1_AbCdEf123","clientId":"4tq1abcdefghijklmnopqrstuv"}`
		if resp.Body != want {
			t.Fatalf("GET %s body\n got %s\nwant %s", path, resp.Body, want)
		}
		assertHeaders(t, resp)
	}
	// AND HEAD answers without a body, other methods are refused with Allow
	if resp := signInRequest(t, c, "HEAD", "/auth/config"); resp.StatusCode != 200 || resp.Body != "" {
		t.Fatalf("HEAD %d %q", resp.StatusCode, resp.Body)
	}
	resp := signInRequest(t, c, "POST", "/auth/config")
	assertErrorBody(t, resp, 405, "method_not_allowed")
	if resp.Headers["Allow"] != "GET, HEAD" {
		t.Fatalf("Allow %q", resp.Headers["Allow"])
	}
	// AND neighbouring paths are not served
	assertErrorBody(t, signInRequest(t, c, "GET", "/auth/config/x"), 404, "not_found")
	assertErrorBody(t, signInRequest(t, c, "GET", "/auth"), 404, "not_found")
}

func TestAuthConfigWithoutAPoolIsNotFound(t *testing.T) {
	// GIVEN no pool configured (the local runner signs in with development tokens)
	var logs strings.Builder
	c := New(Config{Region: "eu-west-1", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		SignIn: SignInConfigFrom(func(k string) string { return map[string]string{EnvRegion: "eu-west-1"}[k] })})

	// WHEN the front end asks for the sign-in configuration
	resp := signInRequest(t, c, "GET", "/api/auth/config")

	// THEN it is told there is none, in the JSON error shape, and nothing is logged as an error
	assertErrorBody(t, resp, 404, "not_found")
	if c.SignInError() != nil || logs.Len() != 0 {
		t.Fatalf("unset config treated as an error: %v %s", c.SignInError(), logs.String())
	}
}

func TestAuthConfigMisconfiguredIsLoggedAndUnavailable(t *testing.T) {
	cases := []struct {
		name, region, pool, client, inLog string
	}{
		{"pool of another region", "eu-central-1", "eu-west-1_AbCdEf123", "4tq1abcdef", "is not a user pool of eu-central-1"},
		{"pool without client", "eu-west-1", "eu-west-1_AbCdEf123", "", EnvUserPoolClientID + " is empty"},
		{"client without pool", "eu-west-1", "", "4tq1abcdef", EnvUserPoolID + " is empty"},
		{"no region", "", "eu-west-1_AbCdEf123", "4tq1abcdef", EnvRegion + ` "" is not an AWS region`},
		{"markup in pool", "eu-west-1", "eu-west-1_<script>", "4tq1abcdef", "is not a user pool ID"},
		{"markup in client", "eu-west-1", "eu-west-1_AbCdEf123", "abc\"def", "is not an app client ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a health function with a wrong sign-in configuration
			env := map[string]string{EnvRegion: tc.region, EnvUserPoolID: tc.pool, EnvUserPoolClientID: tc.client}
			var logs strings.Builder
			c := New(Config{Region: tc.region, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
				SignIn: SignInConfigFrom(func(k string) string { return env[k] })})

			// THEN the start logs what is wrong and which variable to fix
			if c.SignInError() == nil || !strings.Contains(c.SignInError().Error(), tc.inLog) {
				t.Fatalf("error %v, want it to say %q", c.SignInError(), tc.inLog)
			}
			if !strings.Contains(logs.String(), "sign-in configuration is invalid") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Fatalf("not logged as an error: %s", logs.String())
			}
			// AND WHEN the front end asks, it gets 503 "sign-in is not configured", revealing no value
			resp := signInRequest(t, c, "GET", "/auth/config")
			e := assertErrorBody(t, resp, 503, "sign_in_not_configured")
			if !strings.Contains(e.Message, "sign-in is not configured") || (tc.pool != "" && strings.Contains(resp.Body, tc.pool)) {
				t.Fatalf("message %q", e.Message)
			}
		})
	}
}

func TestHealthKeepsWorkingWithABadSignInConfig(t *testing.T) {
	// GIVEN a function whose sign-in values are wrong
	c := New(Config{DB: testClient.Database("health_signin"), Region: "eu-west-1", Version: "v1", Logger: quiet(),
		SignIn: SignInConfig{Region: "eu-west-1", UserPoolID: "eu-central-1_AbC", ClientID: "abc"}})

	// WHEN Route 53 checks /health
	resp, s := get(t, c, "GET", "/health")

	// THEN the region still reports healthy: a sign-in mistake never triggers a failover
	if resp.StatusCode != 200 || s.Status != "ok" {
		t.Fatalf("%d %+v", resp.StatusCode, s)
	}
}
