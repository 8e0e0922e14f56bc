package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/carohealth/platform/internal/localrunner"
)

// lockedBuffer is safe for the command goroutine and the test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestLocalUpServesUntilSIGTERM(t *testing.T) {
	saved := localAPIHandler
	defer func() { localAPIHandler = saved }()
	var gotURI string
	localAPIHandler = func(_ context.Context, env localrunner.HandlerEnv) (localrunner.ProxyHandler, func(), error) {
		gotURI = env.MongoURI
		return localrunner.ProxyHandlerFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "{}"}, nil
		}), nil, nil
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "url")
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Execute([]string{"local", "up", "--addr", "127.0.0.1:0", "--web", dir,
			"--mongodb-uri", "mongodb://127.0.0.1:1/", "--ready-file", ready}, strings.NewReader(""), &out, &errOut)
	}()
	var base string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(ready); err == nil {
			base = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready; stderr %q", errOut.String())
		}
	}
	if strings.TrimSpace(out.String()) != base || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("stdout %q, ready file %q", out.String(), base)
	}
	if gotURI != "mongodb://127.0.0.1:1/" {
		t.Fatalf("handler got URI %q", gotURI)
	}
	resp, err := http.Get(base + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("health: %d %v", resp.StatusCode, resp.Header)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr %q", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("caro local up did not stop on SIGTERM")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatal("ready file left after stop")
	}
}

func TestLocalUpRefusesPublicAddress(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute([]string{"local", "up", "--addr", "0.0.0.0:8080", "--mongodb-uri", "mongodb://127.0.0.1:1/"},
		strings.NewReader(""), &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "loopback") {
		t.Fatalf("exit %d stderr %q", code, errOut.String())
	}
	if out.Len() != 0 {
		t.Fatalf("stdout %q, want nothing", out.String())
	}
}

// TestLocalUpServesTheRealAPIAgainstItsOwnFerretDB is the end-to-end check of `caro local up` as
// the browser suite uses it: the runner starts FerretDB, serves internal/api's handler, and a
// development token creates and reads a patient through /api.
func TestLocalUpServesTheRealAPIAgainstItsOwnFerretDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB")
	}
	// Both event shapes: the contract's (path without /api) and the deployed custom domain's.
	for _, extra := range [][]string{nil, {"--event-path-with-base-path"}} {
		t.Run(strings.Join(append([]string{"flags"}, extra...), " "), func(t *testing.T) { testRealAPI(t, extra) })
	}
}

func testRealAPI(t *testing.T, extra []string) {
	ready := filepath.Join(t.TempDir(), "url")
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"local", "up", "--addr", "127.0.0.1:0", "--web", t.TempDir(), "--ready-file", ready}, extra...)
		done <- Execute(args, strings.NewReader(""), &out, &errOut)
	}()
	var base string
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(ready); err == nil {
			base = strings.TrimSpace(string(b))
			break
		}
		select {
		case code := <-done:
			t.Fatalf("caro local up exited %d before ready; stderr %q", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready; stderr %q", errOut.String())
		}
	}
	call := func(method, path, token, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, resp.Header, m
	}
	issue := func(tenant string) string {
		_, _, m := call("POST", "/dev/token", "", `{"sub":"user-`+tenant+`","tenantId":"`+tenant+`","roles":["clinician"]}`)
		tok, _ := m["token"].(string)
		if tok == "" {
			t.Fatalf("no token: %v", m)
		}
		return tok
	}
	a, b := issue("tenant-a"), issue("tenant-b")

	if code, _, m := call("GET", "/api/health", "", ""); code != 200 || m["database"] != "ok" || m["region"] != "local" {
		t.Fatalf("health: %d %v", code, m)
	}
	// No user pool locally: the front end learns it must use development tokens.
	if code, hdr, m := call("GET", "/api/auth/config", "", ""); code != 404 || m["error"] != "not_found" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("auth config: %d %v %v", code, hdr, m)
	}
	code, hdr, created := call("POST", "/api/patients", a, `{"givenName":"Test","familyName":"Patient","birthDate":"1980-01-02"}`)
	if code != 201 || hdr.Get("X-Frame-Options") != "DENY" || hdr.Get("Strict-Transport-Security") == "" {
		t.Fatalf("create: %d %v %v", code, hdr, created)
	}
	id, _ := created["id"].(string)
	if code, _, got := call("GET", "/api/patients/"+id, a, ""); code != 200 || got["familyName"] != "Patient" {
		t.Fatalf("get own patient: %d %v", code, got)
	}
	if code, _, got := call("GET", "/api/patients/"+id, b, ""); code != 404 {
		t.Fatalf("tenant B reading tenant A's patient: %d %v, want 404", code, got)
	}
	if code, _, _ := call("GET", "/api/patients/"+id, "", ""); code != 401 {
		t.Fatalf("no token: %d, want 401", code)
	}
	// Erasure works locally: the runner records it in its own (in-process S3) erasure register.
	_, _, m := call("POST", "/dev/token", "", `{"sub":"dpo-a","tenantId":"tenant-a","roles":["privacy-officer"]}`)
	dpo, _ := m["token"].(string)
	if code, _, got := call("DELETE", "/api/subjects/"+id, dpo, ""); code != 204 {
		t.Fatalf("erase: %d %v", code, got)
	}
	if code, _, _ := call("GET", "/api/patients/"+id, a, ""); code != 404 {
		t.Fatalf("erased patient: %d, want 404", code)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr %q", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop on SIGINT")
	}
	if !strings.Contains(errOut.String(), "stopping FerretDB") {
		t.Fatalf("FerretDB not stopped: %q", errOut.String())
	}
}

func TestLocalUpNeverPrintsDatabasePasswords(t *testing.T) {
	var out, errOut bytes.Buffer
	// Nothing listens on port 1: the index creation fails and the error names the server.
	code := Execute([]string{"local", "up", "--addr", "127.0.0.1:0", "--mongodb-uri", "mongodb://admin:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=200"},
		strings.NewReader(""), &out, &errOut)
	if code == 0 {
		t.Fatal("started without a database")
	}
	if strings.Contains(errOut.String(), "s3cret") || !strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Fatalf("stderr %q", errOut.String())
	}
}
