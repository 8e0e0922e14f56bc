package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/carohealth/platform/internal/deploycheck"
)

// deployCheckAssembly writes a one-stack cloud assembly for eu-west-1.
func deployCheckAssembly(t *testing.T) string {
	dir := t.TempDir()
	manifest := `{"artifacts":{"CaroPlatform-eu-west-1":{"type":"aws:cloudformation:stack","environment":"aws://unknown-account/eu-west-1",
		"properties":{"templateFile":"p.template.json","requiresBootstrapStackVersion":6,"bootstrapStackVersionSsmParameter":"/cdk-bootstrap/hnb659fds/version"}}}}`
	for name, body := range map[string]string{"manifest.json": manifest, "p.template.json": `{"Resources":{}}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runDeployCheck runs caro deploy check with args against an AWS fake that refuses every call.
func runDeployCheck(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"denied"}`)
	}))
	defer srv.Close()
	clients := func(context.Context, string) (deploycheck.Clients, error) {
		return deploycheck.SDKClients{Config: aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}}, nil
	}
	var out, errOut bytes.Buffer
	streams := IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	root := newRootCmd(streams)
	for _, c := range root.Commands() {
		if c.Name() == "deploy" {
			root.RemoveCommand(c)
		}
	}
	deploy := newDeployCmd(streams)
	for _, c := range deploy.Commands() {
		deploy.RemoveCommand(c)
	}
	deploy.AddCommand(newDeployCheckCmd(streams, clients))
	root.AddCommand(deploy)
	root.SetArgs(append([]string{"deploy", "check"}, args...))
	code = 0
	if err := root.Execute(); err != nil {
		fmt.Fprintln(&errOut, "Error:", err)
		code = 1
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
	}
	return out.String(), errOut.String(), code
}

func TestDeployCheckExitsTwoOnWhatItCouldNotCheck(t *testing.T) {
	// GIVEN an assembly and credentials every API refuses
	dir := deployCheckAssembly(t)
	// WHEN the check runs (text) THEN every finding is listed with what to do, and it exits 2
	out, errOut, code := runDeployCheck(t, "--cdk-out", dir, "--region", "eu-west-1")
	if code != 2 || !strings.Contains(out, "unknown") || !strings.Contains(out, "fix: ") || !strings.Contains(errOut, "blockers found") {
		t.Errorf("code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// AND with -o json the findings are data on stdout
	out, _, code = runDeployCheck(t, "--cdk-out", dir, "--region", "eu-west-1", "-o", "json")
	var doc struct {
		Blocked  bool                  `json:"blocked"`
		Findings []deploycheck.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 2 || !doc.Blocked || len(doc.Findings) == 0 {
		t.Errorf("code %d, %v, %s", code, err, out)
	}
}

func TestDeployCheckRefusesBadInputBeforeCallingAWS(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no assembly":       {[]string{"--cdk-out", "/nonexistent"}, "make synth"},
		"an unknown region": {[]string{"--region", "us-west-2"}, "us-west-2"},
		"an unknown format": {[]string{"-o", "yaml"}, "--output"},
	} {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := runDeployCheck(t, c.args...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("code %d, stderr %s", code, errOut)
			}
		})
	}
}
