package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionPrintsToStdout(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute([]string{"version"}, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "caro ") {
		t.Fatalf("stdout = %q, want a line starting with %q", out.String(), "caro ")
	}
}

func TestUnknownCommandFails(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Execute([]string{"no-such-command"}, strings.NewReader(""), &out, &errOut); code == 0 {
		t.Fatal("unknown command exited 0")
	}
	if !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("stderr = %q, want it to name the unknown command", errOut.String())
	}
}
