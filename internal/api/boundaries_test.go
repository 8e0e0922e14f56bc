package api

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Each limit of the API, on both sides of its edge.

func TestValidationEdges(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	patient := func(given, birth string) PatientInput {
		return PatientInput{GivenName: given, FamilyName: "L", BirthDate: birth}
	}
	for name, c := range map[string]struct {
		in PatientInput
		ok bool
	}{
		"100-character name":  {patient(strings.Repeat("é", 100), "1990-01-01"), true},
		"101-character name":  {patient(strings.Repeat("é", 101), "1990-01-01"), false},
		"1-character name":    {patient("A", "1990-01-01"), true},
		"born 1900-01-01":     {patient("A", "1900-01-01"), true},
		"born 1899-12-31":     {patient("A", "1899-12-31"), false},
		"born today":          {patient("A", "2026-11-23"), true},
		"born tomorrow":       {patient("A", "2026-11-24"), false},
		"date with extra day": {patient("A", "1990-01-011"), false},
	} {
		if err := c.in.Validate(now); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", name, err, c.ok)
		}
	}
	for name, c := range map[string]struct {
		text string
		ok   bool
	}{
		"10000 characters": {strings.Repeat("é", maxNoteRunes), true},
		"10001 characters": {strings.Repeat("é", maxNoteRunes+1), false},
		"one character":    {"a", true},
		"carriage return":  {"a\r\nb", true},
		"tab":              {"a\tb", true},
		"escape":           {"a\x1bb", false},
		"DEL":              {"a\x7fb", false},
	} {
		if err := (NoteInput{Text: c.text}).Validate(); (err == nil) != c.ok {
			t.Errorf("note %s: %v, want ok=%v", name, err, c.ok)
		}
	}
}

// TestRequestIDEdges: API Gateway's request IDs are echoed as they are (every allowed character, up
// to 128 characters); anything else is replaced by a fresh ID.
func TestRequestIDEdges(t *testing.T) {
	for _, c := range []struct {
		id   string
		kept bool
	}{
		{"09azAZ-_", true}, {"0", true}, {"9", true}, {"a", true}, {"z", true}, {"A", true}, {"Z", true},
		{strings.Repeat("a", 128), true}, {strings.Repeat("a", 129), false}, {"", false},
		{"a/b", false}, {"a:b", false}, {"a@b", false}, {"a[b", false}, {"a`b", false}, {"a{b", false}, {"a.b", false},
	} {
		if got := plainRequestID(c.id); got != c.kept {
			t.Errorf("plainRequestID(%q) = %v, want %v", c.id, got, c.kept)
		}
	}
	e := newEnv(t)
	req := e.request(user{}, "GET", "/patients", "")
	req.RequestContext.RequestID = "09azAZ-_"
	resp, _ := e.h.Handle(context.Background(), req)
	if resp.Headers["X-Request-Id"] != "09azAZ-_" {
		t.Fatalf("request ID %q not echoed", resp.Headers["X-Request-Id"])
	}
}

// TestQueryAsAPIGatewaySendsIt: API Gateway fills both query maps, the multi-value one with one
// value per parameter; that is one value, not a repeat.
func TestQueryAsAPIGatewaySendsIt(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-q", uniqueTenant("query"), "clinician"}
	e.createPatient(u)
	e.expect(200, "", u, "GET", "/patients", "", func(r *events.APIGatewayProxyRequest) {
		r.QueryStringParameters = map[string]string{"limit": "2"}
		r.MultiValueQueryStringParameters = map[string][]string{"limit": {"2"}}
	})
}

// TestBodyLimitEdges: a body of exactly the limit is read, plain or base64-encoded (JSON whitespace
// pads it); one byte more is 413.
func TestBodyLimitEdges(t *testing.T) {
	e := newEnv(t)
	u := user{"doc-b", uniqueTenant("body"), "clinician"}
	p := e.createPatient(u)
	body := func(n int) string {
		s := `{"text":"edge"}`
		return s + strings.Repeat(" ", n-len(s))
	}
	b64 := func(r *events.APIGatewayProxyRequest) {
		r.Body = base64.StdEncoding.EncodeToString([]byte(r.Body))
		r.IsBase64Encoded = true
	}
	path := "/patients/" + p.ID + "/notes"
	e.expect(201, "", u, "POST", path, body(DefaultMaxBodyBytes))
	e.expect(201, "", u, "POST", path, body(DefaultMaxBodyBytes), b64)
	e.expect(413, CodeTooLarge, u, "POST", path, body(DefaultMaxBodyBytes+1))
	e.expect(413, CodeTooLarge, u, "POST", path, body(DefaultMaxBodyBytes+1), b64)
	e.expect(201, "", u, "POST", path, body(DefaultMaxBodyBytes/2))
}

// TestMongoClientTimeout: the connection Connect makes bounds every operation at ten seconds, well
// inside the function's timeout.
func TestMongoClientTimeout(t *testing.T) {
	co := clientOptions(testURI)
	if co.Timeout == nil || *co.Timeout != 10*time.Second {
		t.Fatalf("client timeout %v, want 10s", co.Timeout)
	}
	c, err := Connect(context.Background(), Env{MongoURI: testURI}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect(context.Background())
}
