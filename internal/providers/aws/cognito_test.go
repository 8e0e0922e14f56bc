package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/carohealth/platform/internal/localstack"
)

// fakeCognito is an httptest Cognito user-pools API (JSON 1.1, target prefix
// AWSCognitoIdentityProviderService) checking AdminCreateUser and AdminGetUser request shapes.
type fakeCognito struct {
	t     *testing.T
	mu    sync.Mutex
	users map[string]map[string]string // username -> attributes
	seen  []map[string]any
	// poolMissing answers DescribeUserPool with ResourceNotFoundException.
	poolMissing bool
}

func (f *fakeCognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		f.t.Errorf("content-type %q, want application/x-amz-json-1.1", r.Header.Get("Content-Type"))
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/cognito-idp/aws4_request") {
		f.t.Errorf("not SigV4-signed for cognito-idp: %q", r.Header.Get("Authorization"))
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if in["UserPoolId"] != "eu-central-1_Pool" {
		f.t.Errorf("UserPoolId = %v", in["UserPoolId"])
	}
	username, _ := in["Username"].(string)
	switch r.Header.Get("X-Amz-Target") {
	case "AWSCognitoIdentityProviderService.AdminCreateUser":
		f.seen = append(f.seen, in)
		if _, ok := in["TemporaryPassword"]; ok {
			f.t.Error("AdminCreateUser with a TemporaryPassword: let Cognito generate and send it")
		}
		if m, _ := in["DesiredDeliveryMediums"].([]any); len(m) != 1 || m[0] != "SMS" {
			f.t.Errorf("DesiredDeliveryMediums = %v, want [SMS]", in["DesiredDeliveryMediums"])
		}
		attrs := map[string]string{}
		list, _ := in["UserAttributes"].([]any)
		for _, a := range list {
			m := a.(map[string]any)
			attrs[m["Name"].(string)] = m["Value"].(string)
		}
		for _, need := range []string{"phone_number", "custom:tenant_id", "custom:roles", "custom:legacy_sub"} {
			if _, ok := attrs[need]; !ok {
				f.t.Errorf("AdminCreateUser lacks attribute %s: %v", need, attrs)
			}
		}
		if attrs["phone_number"] != username {
			f.t.Errorf("username %q is not the phone number %q (the pool signs in by phone)", username, attrs["phone_number"])
		}
		if _, ok := f.users[username]; ok {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"UsernameExistsException","message":"An account with the given phone_number already exists."}`)
			return
		}
		f.users[username] = attrs
		fmt.Fprintf(w, `{"User":{"Username":%q,"UserStatus":"FORCE_CHANGE_PASSWORD","Enabled":true}}`, username)
	case "AWSCognitoIdentityProviderService.AdminGetUser":
		attrs, ok := f.users[username]
		if !ok {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"UserNotFoundException","message":"User does not exist."}`)
			return
		}
		var list []map[string]string
		for k, v := range attrs {
			list = append(list, map[string]string{"Name": k, "Value": v})
		}
		json.NewEncoder(w).Encode(map[string]any{"Username": username, "UserAttributes": list, "UserStatus": "FORCE_CHANGE_PASSWORD", "Enabled": true})
	case "AWSCognitoIdentityProviderService.DescribeUserPool":
		if f.poolMissing {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"User pool eu-central-1_Pool does not exist."}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"UserPool": map[string]any{"Id": in["UserPoolId"], "Name": "caro", "EstimatedNumberOfUsers": len(f.users)}})
	default:
		f.t.Errorf("unexpected target %q", r.Header.Get("X-Amz-Target"))
		w.WriteHeader(400)
	}
}

func TestIdentityProvisionerIsIdempotent(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool"}
	users := []Identity{
		{Phone: "+31600000001", TenantID: "t1", Roles: []string{"clinician", "admin"}, OldSubject: "old-sub-1"},
		{Phone: "+31600000002", TenantID: "t2", Roles: []string{"clinician"}, OldSubject: "old-sub-2"},
	}
	res, err := p.Provision(context.Background(), users, nil)
	if err != nil || res.Created != 2 || res.Existing != 0 {
		t.Fatalf("first run %+v %v", res, err)
	}
	f.mu.Lock()
	if got := f.users["+31600000001"]; got["custom:roles"] != "clinician,admin" || got["custom:legacy_sub"] != "old-sub-1" || got["custom:tenant_id"] != "t1" {
		t.Fatalf("attributes %v", got)
	}
	// A resumed run creates nothing twice; a user found in another tenant is reported, not changed.
	f.users["+31600000002"]["custom:tenant_id"] = "other"
	f.mu.Unlock()
	res, err = p.Provision(context.Background(), users, nil)
	if err != nil || res.Created != 0 || res.Existing != 2 || len(res.Conflicts) != 1 || strings.Contains(res.Conflicts[0], "+316000") {
		t.Fatalf("second run %+v %v (conflicts must mask phone numbers)", res, err)
	}
	// Drills against a real pool suppress the SMS.
	p.SuppressMessages = true
	f.mu.Lock()
	f.users = map[string]map[string]string{}
	f.seen = nil
	f.mu.Unlock()
	p.Provision(context.Background(), users[:1], nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[0]["MessageAction"] != "SUPPRESS" {
		t.Fatalf("MessageAction = %v", f.seen[0]["MessageAction"])
	}
}

func TestIdentityProvisionerManyUsersInParallelStopsOnError(t *testing.T) {
	f := &fakeCognito{t: t, users: map[string]map[string]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := &IdentityProvisioner{Client: cip.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL)), UserPoolID: "eu-central-1_Pool", RatePerSecond: 2000}
	var users []Identity
	for i := 0; i < 300; i++ {
		users = append(users, Identity{Phone: fmt.Sprintf("+3161%07d", i), TenantID: "t1", OldSubject: fmt.Sprint("s", i)})
	}
	var lines []string
	res, err := p.Provision(context.Background(), users[:200], func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) })
	f.mu.Lock()
	n := len(f.users)
	f.mu.Unlock()
	if err != nil || res.Created != 200 || n != 200 {
		t.Fatalf("%+v %v (%d users)", res, err, n)
	}
	res, err = p.Provision(context.Background(), users, nil)
	if err != nil || res.Created != 100 || res.Existing != 200 {
		t.Fatalf("resume %+v %v", res, err)
	}
	// A damaged export is refused before any call.
	if _, err := p.Provision(context.Background(), []Identity{{Phone: "+31600000009"}}, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged export: %v", err)
	}
}
