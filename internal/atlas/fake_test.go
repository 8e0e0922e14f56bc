package atlas

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const versionedJSON = "application/vnd.atlas.2023-01-01+json"

// fakeAtlas is an httptest stand-in for the Atlas Admin API (which has no local server). It serves
// the documented paths, checks the versioned Accept header, the authentication and the bodies, and
// records every request.
type fakeAtlas struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	snapshots map[string][]map[string]any // "group/cluster" -> snapshots
	ear       map[string]map[string]any   // group -> encryptionAtRest
	// jobOutcome is the restore job's end state after pollsUntilDone GETs: "finished",
	// "failed", "cancelled", "expired" or "" (never ends).
	jobOutcome     string
	pollsUntilDone int
	polls          int
	createdJobs    []map[string]any
	existingJobs   []map[string]any // what GET .../restoreJobs lists
	requests       []string
	authHeaders    []string
	// auth: "oauth" expects a bearer token from /api/oauth/token; "digest" a digest response.
	auth          string
	clientID      string
	clientSecret  string
	publicKey     string
	tokenRequests int
}

func newFakeAtlas(t *testing.T, auth string) *fakeAtlas {
	f := &fakeAtlas{t: t, auth: auth, snapshots: map[string][]map[string]any{}, ear: map[string]map[string]any{},
		jobOutcome: "finished", pollsUntilDone: 2, clientID: "mdb_sa_id_123", clientSecret: "mdb_sa_sk_SECRET", publicKey: "pubkey1"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAtlas) fail(w http.ResponseWriter, code int, msg string) {
	f.t.Errorf("fake atlas: %s", msg)
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":%d,"errorCode":"FAKE_REJECTED","detail":%q}`, code, msg)
}

func (f *fakeAtlas) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/api/oauth/token" {
		f.tokenRequests++
		id, secret, ok := r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || !ok || id != f.clientID || secret != f.clientSecret || !strings.Contains(string(body), "grant_type=client_credentials") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"fake-access-token","token_type":"Bearer","expires_in":3600}`)
		return
	}
	authz := r.Header.Get("Authorization")
	switch f.auth {
	case "oauth":
		if authz != "Bearer fake-access-token" {
			f.fail(w, http.StatusUnauthorized, "missing bearer token on "+r.URL.Path)
			return
		}
	case "digest":
		if !strings.HasPrefix(authz, "Digest ") {
			w.Header().Set("WWW-Authenticate", `Digest realm="MMS Public API", domain="", nonce="fakenonce", algorithm=MD5, qop="auth", stale=false`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !strings.Contains(authz, `username="`+f.publicKey+`"`) || !strings.Contains(authz, `nonce="fakenonce"`) || !strings.Contains(authz, "response=") {
			f.fail(w, http.StatusUnauthorized, "bad digest header")
			return
		}
	}
	f.authHeaders = append(f.authHeaders, authz)
	if got := r.Header.Get("Accept"); got != versionedJSON {
		f.fail(w, http.StatusNotAcceptable, "Accept = "+got)
		return
	}
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/atlas/v2/groups/"), "/")
	w.Header().Set("Content-Type", versionedJSON)
	switch {
	case r.Method == http.MethodGet && len(parts) == 2 && parts[1] == "encryptionAtRest":
		ear, ok := f.ear[parts[0]]
		if !ok {
			ear = map[string]any{"awsKms": map[string]any{"enabled": false}}
		}
		json.NewEncoder(w).Encode(ear)
	case r.Method == http.MethodGet && len(parts) == 5 && parts[1] == "clusters" && parts[3] == "backup" && parts[4] == "snapshots":
		if r.URL.Query().Get("pageNum") == "" || r.URL.Query().Get("itemsPerPage") == "" {
			f.fail(w, http.StatusBadRequest, "snapshot list without paging parameters")
			return
		}
		list := f.snapshots[parts[0]+"/"+parts[2]]
		json.NewEncoder(w).Encode(map[string]any{"results": list, "totalCount": len(list)})
	case r.Method == http.MethodGet && len(parts) == 5 && parts[1] == "clusters" && parts[4] == "restoreJobs":
		if r.URL.Query().Get("pageNum") == "" {
			f.fail(w, http.StatusBadRequest, "restore job list without paging parameters")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"results": f.existingJobs, "totalCount": len(f.existingJobs)})
	case r.Method == http.MethodPost && len(parts) == 5 && parts[1] == "clusters" && parts[4] == "restoreJobs":
		if ct := r.Header.Get("Content-Type"); ct != versionedJSON {
			f.fail(w, http.StatusUnsupportedMediaType, "Content-Type = "+ct)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.fail(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		for _, k := range []string{"deliveryType", "snapshotId", "targetGroupId", "targetClusterName"} {
			if _, ok := body[k]; !ok {
				f.fail(w, http.StatusBadRequest, "restore job body lacks "+k)
				return
			}
		}
		f.createdJobs = append(f.createdJobs, body)
		body["id"] = "job-1"
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodGet && len(parts) == 6 && parts[4] == "restoreJobs" && parts[5] == "job-1":
		f.polls++
		snap := any("s-resumed")
		if len(f.createdJobs) > 0 {
			snap = f.createdJobs[0]["snapshotId"]
		}
		job := map[string]any{"id": "job-1", "deliveryType": "automated", "snapshotId": snap}
		if f.polls >= f.pollsUntilDone {
			switch f.jobOutcome {
			case "finished":
				job["finishedAt"] = "2026-11-23T05:00:00Z"
			case "failed", "cancelled", "expired":
				job[f.jobOutcome] = true
			}
		}
		json.NewEncoder(w).Encode(job)
	default:
		f.fail(w, http.StatusNotFound, "unexpected request "+r.Method+" "+r.URL.Path)
	}
}
