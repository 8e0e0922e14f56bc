package aws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/carohealth/platform/internal/localstack"
)

// TestProvisionCreatesAtMostConcurrencyUsersAtOnce: Concurrency bounds the AdminCreateUser calls in
// flight (with RatePerSecond, it keeps the step under Cognito's UserCreation quota), however fast the
// rate would let them start.
func TestProvisionCreatesAtMostConcurrencyUsersAtOnce(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{}}
	var mu sync.Mutex
	inFlight, peak := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(60 * time.Millisecond) // Cognito takes its time: the next users' calls start meanwhile
		f.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool",
		Concurrency: 2, RatePerSecond: 1000}
	var users []Identity
	for i := range 12 {
		users = append(users, Identity{Phone: fmt.Sprintf("+3162%07d", i), TenantID: "t1", OldSubject: fmt.Sprint("s", i)})
	}
	res, err := p.Provision(context.Background(), users, nil)
	if err != nil || res.Created != len(users) {
		t.Fatalf("created %d of %d: %v", res.Created, len(users), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > 2 {
		t.Fatalf("%d users created at once with Concurrency 2", peak)
	}
}

// TestProvisionStopsOnTheFirstCognitoErrorAndNamesIt: a user Cognito refuses fails the step with
// Cognito's error and the masked number, never a bare "context canceled" and never success.
func TestProvisionStopsOnTheFirstCognitoErrorAndNamesIt(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{}}
	const refused = "+31630000005"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), refused) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"InvalidParameterException","message":"Invalid phone number format."}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool", RatePerSecond: 1000}
	var users []Identity
	for i := range 40 {
		users = append(users, Identity{Phone: fmt.Sprintf("+3163%07d", i), TenantID: "t1", OldSubject: fmt.Sprint("s", i)})
	}
	_, err := p.Provision(context.Background(), users, nil)
	if err == nil || !strings.Contains(err.Error(), "create user *********005 in eu-central-1_Pool") || !strings.Contains(err.Error(), "Invalid phone number format") {
		t.Fatalf("err = %v, want the refused user named (masked) with Cognito's reason", err)
	}
}

// TestProvisionReportsProgressEvery500Users: a long identities step says how far it is every 500
// users, counting each user once.
func TestProvisionReportsProgressEvery500Users(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool", RatePerSecond: 5000}
	var users []Identity
	for i := range 1000 {
		users = append(users, Identity{Phone: fmt.Sprintf("+3164%07d", i), TenantID: "t1", OldSubject: fmt.Sprint("s", i)})
	}
	var lines []string
	if _, err := p.Provision(context.Background(), users, func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines, "; "); got != "500/1000 users; 1000/1000 users" {
		t.Fatalf("progress %q", got)
	}
}

// TestAConflictNamesTheUserAndBothTenants: a user found in another tenant than the export's is
// reported with its masked number, the tenant it is in and the one the export names.
func TestAConflictNamesTheUserAndBothTenants(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{
		"+31650000001": {"phone_number": "+31650000001", "custom:tenant_id": "t1"},
		"+31650000002": {"phone_number": "+31650000002", "custom:tenant_id": "other"},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool"}
	res, err := p.Provision(context.Background(), []Identity{
		{Phone: "+31650000001", TenantID: "t1", OldSubject: "a"},
		{Phone: "+31650000002", TenantID: "t2", OldSubject: "b"},
	}, nil)
	want := `*********002 exists in tenant "other", export says "t2"`
	if err != nil || res.Existing != 2 || len(res.Conflicts) != 1 || res.Conflicts[0] != want {
		t.Fatalf("%+v %v, want one conflict %q", res, err, want)
	}
}

// TestMaskPhoneKeepsOnlyTheLastThreeDigits: logs and journals never hold a whole phone number.
func TestMaskPhoneKeepsOnlyTheLastThreeDigits(t *testing.T) {
	for in, want := range map[string]string{"+31600000001": "*********001", "1234": "*234", "123": "***", "12": "***", "": "***"} {
		if got := maskPhone(in); got != want {
			t.Errorf("maskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
