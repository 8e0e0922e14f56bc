package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const sampleResult = `{"files":[{"file_name":"a.go","mutations":[
 {"type":"CONDITIONALS_BOUNDARY","status":"KILLED","line":1,"column":5},
 {"type":"CONDITIONALS_BOUNDARY","status":"KILLED","line":2,"column":5},
 {"type":"CONDITIONALS_NEGATION","status":"KILLED","line":2,"column":5},
 {"type":"ARITHMETIC_BASE","status":"LIVED","line":3,"column":9},
 {"type":"CONDITIONALS_BOUNDARY","status":"LIVED","line":2,"column":5},
 {"type":"CONDITIONALS_NEGATION","status":"NOT COVERED","line":1,"column":1},
 {"type":"CONDITIONALS_NEGATION","status":"TIMED OUT","line":1,"column":2}]}]}`

func setup(t *testing.T, equivalents string) (root, eq, res string) {
	root = t.TempDir()
	write(t, filepath.Join(root, "internal/pkg/a.go"), "package pkg\nif a < b {\nx := make([]byte, n+1)\n")
	eq = filepath.Join(root, "eq.md")
	write(t, eq, "| package | position | mutator | code | reason |\n|---|---|---|---|---|\n"+equivalents)
	res = filepath.Join(root, "internal-pkg.json")
	write(t, res, sampleResult)
	return root, eq, res
}

// TestEfficacyCountsEquivalentsNeitherWay: killed / (killed + lived - equivalent), with the listed
// mutant left out of the survivors.
func TestEfficacyCountsEquivalentsNeitherWay(t *testing.T) {
	root, eq, res := setup(t, "| internal/pkg | `a.go:3:9` | `ARITHMETIC_BASE` | `n+1` | a capacity hint |\n")
	var out strings.Builder
	err := run(&out, root, eq, 90, []string{res})
	if err == nil || !strings.Contains(err.Error(), "75.00%") {
		t.Fatalf("want a failure at 75.00%% (3 of 4), got %v\n%s", err, out.String())
	}
	for _, want := range []string{"internal/pkg", "LIVED internal/pkg/a.go:2:5 CONDITIONALS_BOUNDARY"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "a.go:3:9") {
		t.Errorf("the equivalent mutant is listed as a survivor:\n%s", out.String())
	}
	if err := run(&out, root, eq, 75, []string{res}); err != nil {
		t.Fatalf("at a 75%% goal: %v", err)
	}
}

// TestStaleEquivalentFails: an entry whose line no longer holds its code fails the run.
func TestStaleEquivalentFails(t *testing.T) {
	root, eq, res := setup(t, "| internal/pkg | `a.go:3:9` | `ARITHMETIC_BASE` | `n+2` | moved |\n")
	var out strings.Builder
	if err := run(&out, root, eq, 0, []string{res}); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("want a stale entry, got %v", err)
	}
}

// TestMalformedEquivalentRefused: an entry without a reason, or with a bad position, is an error.
func TestMalformedEquivalentRefused(t *testing.T) {
	for _, row := range []string{
		"| internal/pkg | `a.go:3:9` | `ARITHMETIC_BASE` | `n+1` |  |\n",
		"| internal/pkg | `a.go:3` | `ARITHMETIC_BASE` | `n+1` | r |\n",
		"| internal/pkg | `a.go:3:9` | `ARITHMETIC_BASE` | r |\n",
	} {
		root, eq, res := setup(t, row)
		var out strings.Builder
		if err := run(&out, root, eq, 0, []string{res}); err == nil {
			t.Errorf("%q accepted", row)
		}
	}
	var out strings.Builder
	if err := run(&out, ".", "x", 0, nil); err == nil {
		t.Error("no result files accepted")
	}
}
