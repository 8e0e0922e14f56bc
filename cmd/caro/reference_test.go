package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra/doc"

	"github.com/carohealth/platform/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/cli/ from the command tree (make docs)")

// referenceDir is where the generated CLI reference lives, from this package's folder.
var referenceDir = filepath.Join("..", "..", "docs", "cli")

// TestCLIReferenceIsCurrent fails when docs/cli/ differs from what cobra's doc generator makes of
// the command tree: run `make docs` and commit the result.
func TestCLIReferenceIsCurrent(t *testing.T) {
	want := generateReference(t)
	if *update {
		old, _ := filepath.Glob(filepath.Join(referenceDir, "*.md"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(referenceDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range want {
			if err := os.WriteFile(filepath.Join(referenceDir, name), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	got, _ := filepath.Glob(filepath.Join(referenceDir, "*.md"))
	var problems []string
	for _, f := range got {
		name := filepath.Base(f)
		body, err := os.ReadFile(f)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case want[name] == nil:
			problems = append(problems, name+" documents no command")
		case !bytes.Equal(body, want[name]):
			problems = append(problems, name+" differs")
		}
	}
	for name := range want {
		if !slices.Contains(got, filepath.Join(referenceDir, name)) {
			problems = append(problems, name+" is missing")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("docs/cli/ is stale (%s): run `make docs` and commit it", strings.Join(problems, "; "))
	}
}

// generateReference renders the tree as markdown, one file per command, by file name. It clears
// the environment the settings read (and names the home folder "~"), so the reference never shows
// the generating machine's values.
func generateReference(t *testing.T) map[string][]byte {
	t.Helper()
	for _, s := range config.Catalogue {
		for _, e := range s.EnvVars() {
			t.Setenv(e, "")
		}
	}
	t.Setenv("HOME", "~")
	root := newRootCmd(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	dir := t.TempDir()
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}
