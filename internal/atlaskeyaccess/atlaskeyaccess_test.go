package atlaskeyaccess

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// secrets is an in-memory SecretReader.
type secrets map[string]string

func (s secrets) SecretString(_ context.Context, name string) (string, error) {
	if v, ok := s[name]; ok {
		return v, nil
	}
	return "", errors.New("ResourceNotFoundException")
}

// atlasFake is the Admin API behind HTTP digest authentication: the cloud provider access
// authorization refuses assumeFails times (IAM has not propagated the role yet), then accepts.
type atlasFake struct {
	mu          sync.Mutex
	assumeFails int
	requests    []string
	bodies      []map[string]any
}

func (f *atlasFake) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		if !strings.HasPrefix(authz, "Digest ") {
			w.Header().Set("WWW-Authenticate", `Digest realm="MMS Public API", domain="", nonce="fakenonce", algorithm=MD5, qop="auth", stale=false`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !strings.Contains(authz, `username="pub"`) || r.Method != http.MethodPatch || !strings.Contains(r.Header.Get("Accept"), "application/vnd.atlas.") {
			t.Errorf("%s %s, Accept %s, %s", r.Method, r.URL.Path, r.Header.Get("Accept"), authz)
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(raw, &body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		f.bodies = append(f.bodies, body)
		w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
		switch {
		case r.URL.Path == "/api/atlas/v2/groups/p1/cloudProviderAccess/r1" && f.assumeFails > 0:
			f.assumeFails--
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"detail":"Atlas cannot assume the specified role.","error":400,"errorCode":"CANNOT_ASSUME_ROLE","reason":"Bad Request"}`)
		case r.URL.Path == "/api/atlas/v2/groups/p1/cloudProviderAccess/r1":
			io.WriteString(w, `{"providerName":"AWS","roleId":"r1","iamAssumedRoleArn":"arn:aws:iam::123456789012:role/caro-atlas-kms-eu-west-1","authorizedDate":"2026-01-01T00:00:00Z"}`)
		case r.URL.Path == "/api/atlas/v2/groups/p1/clusters/caro-eu-west-1":
			io.WriteString(w, `{"name":"caro-eu-west-1","encryptionAtRestProvider":"AWS"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"detail":"not found","error":404,"errorCode":"RESOURCE_NOT_FOUND","reason":"Not Found"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func handler(t *testing.T, f *atlasFake) (*Handler, *[]time.Duration) {
	var pauses []time.Duration
	return &Handler{
		Secrets: secrets{"cfn/atlas/profile/default": `{"PublicKey":"pub","PrivateKey":"priv"}`}, CredentialsSecret: "cfn/atlas/profile/default",
		BaseURL: f.server(t).URL, AuthorizeFor: time.Minute, RetryEvery: time.Second,
		Sleep: func(d time.Duration) { pauses = append(pauses, d) },
	}, &pauses
}

func authorization(request cfn.RequestType) cfn.Event {
	return cfn.Event{RequestType: request, ResourceType: TypeKeyRoleAuthorization, PhysicalResourceID: "p1/r1", ResourceProperties: map[string]interface{}{
		"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f", PropProjectID: "p1", PropRoleID: "r1",
		PropIAMRoleArn: "arn:aws:iam::123456789012:role/caro-atlas-kms-eu-west-1",
	}}
}

func TestAuthorizationWaitsUntilAtlasCanAssumeTheRole(t *testing.T) {
	// GIVEN a role IAM has not propagated yet: Atlas refuses twice
	f := &atlasFake{assumeFails: 2}
	h, pauses := handler(t, f)
	// WHEN the stack creates the authorization
	id, _, err := h.Handle(context.Background(), authorization(cfn.RequestCreate))
	// THEN it is retried with growing pauses until Atlas accepts the role ARN for the project's role
	if err != nil || id != "p1/r1" {
		t.Fatalf("id %q, err %v", id, err)
	}
	if len(f.requests) != 3 || len(*pauses) != 2 || (*pauses)[1] != 2*(*pauses)[0] {
		t.Errorf("requests %v, pauses %v", f.requests, *pauses)
	}
	if b := f.bodies[2]; b["providerName"] != "AWS" || b["iamAssumedRoleArn"] != "arn:aws:iam::123456789012:role/caro-atlas-kms-eu-west-1" {
		t.Errorf("body %v", b)
	}
}

func TestAuthorizationGivesUpSayingWhatToCheck(t *testing.T) {
	// GIVEN a role Atlas can never assume
	f := &atlasFake{assumeFails: 1000}
	h, _ := handler(t, f)
	h.AuthorizeFor = 10 * time.Second
	// WHEN the stack creates the authorization THEN it fails naming the trust to check
	_, _, err := h.Handle(context.Background(), authorization(cfn.RequestCreate))
	if err == nil || !strings.Contains(err.Error(), "external ID") || !strings.Contains(err.Error(), "tries") {
		t.Errorf("err = %v", err)
	}
}

func TestClusterIsSwitchedToTheCustomerKey(t *testing.T) {
	// GIVEN the primary cluster WHEN its encryption resource is created
	f := &atlasFake{}
	h, _ := handler(t, f)
	id, _, err := h.Handle(context.Background(), cfn.Event{RequestType: cfn.RequestUpdate, ResourceType: TypeClusterEncryption,
		ResourceProperties: map[string]interface{}{PropProjectID: "p1", PropClusterName: "caro-eu-west-1"}})
	// THEN the cluster is patched with encryptionAtRestProvider AWS, and nothing else
	if err != nil || id != "p1/caro-eu-west-1" {
		t.Fatalf("id %q, err %v", id, err)
	}
	if len(f.requests) != 1 || f.requests[0] != "PATCH /api/atlas/v2/groups/p1/clusters/caro-eu-west-1" || len(f.bodies[0]) != 1 || f.bodies[0]["encryptionAtRestProvider"] != "AWS" {
		t.Errorf("requests %v, bodies %v", f.requests, f.bodies)
	}
}

func TestDeleteLeavesAtlasAsItIs(t *testing.T) {
	f := &atlasFake{}
	h, _ := handler(t, f)
	id, _, err := h.Handle(context.Background(), authorization(cfn.RequestDelete))
	if err != nil || id != "p1/r1" || len(f.requests) != 0 {
		t.Errorf("id %q, err %v, requests %v", id, err, f.requests)
	}
}

func TestBadEventsAreRefusedClearly(t *testing.T) {
	f := &atlasFake{}
	h, _ := handler(t, f)
	missing := authorization(cfn.RequestCreate)
	delete(missing.ResourceProperties, PropIAMRoleArn)
	for name, c := range map[string]struct {
		event cfn.Event
		h     *Handler
		want  string
	}{
		"a missing property": {missing, h, "property IamRoleArn is missing"},
		"an unknown type":    {cfn.Event{RequestType: cfn.RequestCreate, ResourceType: "Custom::Other"}, h, "unknown resource type"},
		"no credentials":     {authorization(cfn.RequestCreate), &Handler{Secrets: secrets{}, CredentialsSecret: "cfn/atlas/profile/default"}, "reading the Atlas credentials"},
		"malformed credentials": {authorization(cfn.RequestCreate),
			&Handler{Secrets: secrets{"s": `{"publicKey":"x"}`}, CredentialsSecret: "s"}, "PublicKey"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := c.h.Handle(context.Background(), c.event); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	if len(f.requests) != 0 {
		t.Errorf("requests %v", f.requests)
	}
}
