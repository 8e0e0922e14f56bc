package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/failover"
)

// run executes caro with args and returns the exit status, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAMistypedVerbFailsAndSuggestsTheNearest(t *testing.T) {
	// GIVEN a verb one letter off WHEN caro runs it THEN it exits non-zero naming the verb it meant
	code, out, errOut := run(t, "failover", "aply")
	if code == 0 {
		t.Fatalf("caro failover aply exited 0; stdout %q", out)
	}
	for _, want := range []string{`unknown command "aply" for "caro failover"`, "did you mean apply?"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestAnUnknownWordAfterACommandWithVerbsFails(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"backup", "lst"}, {"failover", "drill", "serve-regon"}} {
		code, _, errOut := run(t, args...)
		if code == 0 || !strings.Contains(errOut, "unknown command") {
			t.Errorf("caro %s: exit %d, stderr %q: want non-zero and \"unknown command\"", strings.Join(args, " "), code, errOut)
		}
	}
}

func TestAGroupWithoutAVerbPrintsItsHelpAndFails(t *testing.T) {
	for _, group := range []string{"failover", "backup", "audit"} {
		code, out, errOut := run(t, group)
		if code == 0 {
			t.Errorf("caro %s exited 0", group)
		}
		if out != "" {
			t.Errorf("caro %s wrote %q to stdout: the help of a usage error goes to stderr", group, out)
		}
		if !strings.Contains(errOut, "Available Commands:") || !strings.Contains(errOut, "caro "+group+" needs a command") {
			t.Errorf("caro %s: stderr %q: want its help and what is missing", group, errOut)
		}
	}
}

func TestHelpOfAnUnknownTopicFails(t *testing.T) {
	if code, _, errOut := run(t, "help", "failover", "aply"); code == 0 || !strings.Contains(errOut, "did you mean apply?") {
		t.Fatalf("caro help failover aply: exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := run(t, "help", "failover", "apply"); code != 0 || !strings.Contains(out, "caro failover apply") {
		t.Fatalf("caro help failover apply: exit %d, stdout %q", code, out)
	}
}

func TestHelpAsked(t *testing.T) {
	code, out, _ := run(t, "failover", "--help")
	if code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Fatalf("caro failover --help: exit %d, stdout %q: asked-for help goes to stdout and succeeds", code, out)
	}
}

func TestCompletionOfToOffersTheDefinedRegions(t *testing.T) {
	// GIVEN the committed regions WHEN the shell completes `caro failover plan --to <TAB>`
	code, out, errOut := run(t, "__complete", "failover", "plan", "--to", "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// THEN it offers each region with its role, and no file names
	want := "eu-west-1\tprimary\neu-central-1\tstandby\n:4\n"
	if out != want && out != "eu-central-1\tstandby\neu-west-1\tprimary\n:4\n" {
		t.Fatalf("completion of --to =\n%q\nwant the two regions with their roles and directive 4 (no files):\n%q", out, want)
	}
	code, out, _ = run(t, "__complete", "failover", "plan", "--to", "eu-c")
	if code != 0 || !strings.Contains(out, "eu-central-1") {
		t.Fatalf("completion of --to eu-c: %q", out)
	}
}

func TestCompletionOfPlansAndSteps(t *testing.T) {
	_, out, _ := run(t, "__complete", "failover", "apply", "")
	if out != "json\n:8\n" {
		t.Errorf("completion of apply's plan = %q, want JSON files (directive 8)", out)
	}
	_, out, _ = run(t, "__complete", "failover", "drill", "--kill-at", "")
	if !strings.Contains(out, "restore\n") || !strings.HasSuffix(out, ":4\n") {
		t.Errorf("completion of --kill-at = %q, want the drill's steps", out)
	}
	// A plan names its own steps.
	path := filepath.Join(t.TempDir(), "plan.json")
	p := &failover.Plan{Steps: []failover.PlannedStep{{Name: "preflight"}, {Name: "dns"}}}
	if err := failover.WritePlan(path, p); err != nil {
		t.Fatal(err)
	}
	names, _ := completeStepNames(commandOf(t, "failover", "apply"), []string{path}, "")
	if strings.Join(names, ",") != "preflight,dns" {
		t.Errorf("steps of the plan = %v, want preflight,dns", names)
	}
}

// commandOf returns the command at path in a fresh tree.
func commandOf(t *testing.T, path ...string) *cobra.Command {
	t.Helper()
	root := newRootCmd(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	c, _, err := root.Find(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "caro") || len(out) < 500 {
			t.Errorf("caro completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
}
