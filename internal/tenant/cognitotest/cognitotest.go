// Package cognitotest is an httptest fake of the two Cognito user-pools actions the offboarding
// calls, ListUsers and AdminDeleteUser (JSON 1.1 protocol, target prefix
// AWSCognitoIdentityProviderService). It checks the documented request shape (SigV4 for
// cognito-idp, the pool ID, ListUsers' Limit of at most 60 and its pagination token) and answers as
// Cognito does, including UserNotFoundException. It is a fake, not an emulator: no other action.
package cognitotest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
)

// Fake is one user pool.
type Fake struct {
	*httptest.Server
	// PoolID is the pool's ID; requests for another pool are refused like Cognito does.
	PoolID string

	mu      sync.Mutex
	users   map[string]map[string]string // username -> attributes
	deletes map[string]int               // username -> AdminDeleteUser calls that deleted it or found it gone
	errs    []string
	// FailDeletesAfter, when positive, makes every AdminDeleteUser after that many fail with a
	// throttling error (tests of a failing pool).
	FailDeletesAfter int
}

// New starts a fake pool; Close it when done.
func New(poolID string) *Fake {
	f := &Fake{PoolID: poolID, users: map[string]map[string]string{}, deletes: map[string]int{}}
	f.Server = httptest.NewServer(f)
	return f
}

// AddUser adds a user with its tenant (custom:tenant_id) and sub.
func (f *Fake) AddUser(username, tenant, sub string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[username] = map[string]string{"sub": sub, "custom:tenant_id": tenant, "phone_number": username}
}

// Count returns how many users of tenant the pool holds.
func (f *Fake) Count(tenant string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.users {
		if a["custom:tenant_id"] == tenant {
			n++
		}
	}
	return n
}

// Deletes returns the AdminDeleteUser calls per username.
func (f *Fake) Deletes() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.deletes))
	for k, v := range f.deletes {
		out[k] = v
	}
	return out
}

// Errors returns the request-shape problems the fake saw (empty when every request was right).
func (f *Fake) Errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

func (f *Fake) fail(w http.ResponseWriter, typ, msg string) {
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
}

// ServeHTTP answers one Cognito request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.errs = append(f.errs, "content-type "+ct)
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/cognito-idp/aws4_request") {
		f.errs = append(f.errs, "not SigV4-signed for cognito-idp")
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		f.errs = append(f.errs, "body is not JSON")
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if in["UserPoolId"] != f.PoolID {
		f.fail(w, "ResourceNotFoundException", fmt.Sprintf("User pool %v does not exist.", in["UserPoolId"]))
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "AWSCognitoIdentityProviderService.ListUsers":
		f.listUsers(w, in)
	case "AWSCognitoIdentityProviderService.AdminDeleteUser":
		name, _ := in["Username"].(string)
		if name == "" {
			f.errs = append(f.errs, "AdminDeleteUser without Username")
		}
		if f.FailDeletesAfter > 0 && len(f.deletes) >= f.FailDeletesAfter {
			f.fail(w, "TooManyRequestsException", "Too many requests")
			return
		}
		f.deletes[name]++
		if _, ok := f.users[name]; !ok {
			f.fail(w, "UserNotFoundException", "User does not exist.")
			return
		}
		delete(f.users, name)
		fmt.Fprint(w, `{}`)
	default:
		f.errs = append(f.errs, "unexpected action "+target)
		f.fail(w, "InvalidAction", "not faked: "+target)
	}
}

// listUsers pages the users in username order; the token is the index of the next user.
func (f *Fake) listUsers(w http.ResponseWriter, in map[string]any) {
	limit := 60
	if l, ok := in["Limit"].(float64); ok {
		if l < 1 || l > 60 {
			f.errs = append(f.errs, fmt.Sprintf("ListUsers Limit %v outside 1..60", l))
		}
		limit = int(l)
	}
	if _, ok := in["Filter"]; ok {
		f.errs = append(f.errs, "ListUsers with a Filter: Cognito cannot filter on custom attributes")
	}
	names := make([]string, 0, len(f.users))
	for n := range f.users {
		names = append(names, n)
	}
	sort.Strings(names)
	start := 0
	if tok, ok := in["PaginationToken"].(string); ok {
		// The token names the next username, so deletions between pages skip nobody.
		start = sort.SearchStrings(names, tok)
	}
	attrsWanted := map[string]bool{}
	if list, ok := in["AttributesToGet"].([]any); ok {
		for _, a := range list {
			attrsWanted[fmt.Sprint(a)] = true
		}
	}
	type attr struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	}
	type user struct {
		Username   string `json:"Username"`
		Attributes []attr `json:"Attributes"`
		Enabled    bool   `json:"Enabled"`
		UserStatus string `json:"UserStatus"`
	}
	out := struct {
		Users           []user `json:"Users"`
		PaginationToken string `json:"PaginationToken,omitempty"`
	}{Users: []user{}}
	end := min(start+limit, len(names))
	for _, n := range names[start:end] {
		u := user{Username: n, Enabled: true, UserStatus: "CONFIRMED"}
		keys := make([]string, 0, len(f.users[n]))
		for k := range f.users[n] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(attrsWanted) == 0 || attrsWanted[k] {
				u.Attributes = append(u.Attributes, attr{Name: k, Value: f.users[n][k]})
			}
		}
		out.Users = append(out.Users, u)
	}
	if end < len(names) {
		out.PaginationToken = names[end]
	}
	_ = json.NewEncoder(w).Encode(out)
}
