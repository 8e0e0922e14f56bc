package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// pendingEnvReads are the files that still read the environment themselves, each to be moved onto
// config.LookupEnv or the Loader as the command or package is rewired. The list may only shrink: a
// file not in it fails the test.
var pendingEnvReads = map[string]bool{}

// TestOnlyConfigReadsTheEnvironment fails when any Go file of the toolkit outside this package
// calls os.Getenv or os.LookupEnv: settings are resolved here, each with its source.
// Exempt: the Lambda functions' wiring (lambdas/*/main.go, set by the CDK app), tests, test data.
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	root := repoRoot(t)
	var offenders []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", "cdk.out", ".git", ".cache", "vendor":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || rel == filepath.Join("internal", "config", "env.go") {
			return nil
		}
		if m, _ := filepath.Match(filepath.Join("lambdas", "*", "main.go"), rel); m {
			return nil
		}
		calls, err := envCalls(path)
		if err != nil {
			return err
		}
		if len(calls) > 0 && !pendingEnvReads[filepath.ToSlash(rel)] {
			offenders = append(offenders, rel+": "+strings.Join(calls, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(offenders)
	if len(offenders) > 0 {
		t.Errorf("these files read the environment themselves; resolve the setting through internal/config (a catalogued setting, or config.LookupEnv):\n  %s",
			strings.Join(offenders, "\n  "))
	}
}

// envCalls lists the os.Getenv/os.LookupEnv/os.Environ calls in a file, with their lines.
func envCalls(path string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	osName := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"os"` {
			osName = "os"
			if imp.Name != nil {
				osName = imp.Name.Name
			}
		}
	}
	if osName == "" {
		return nil, nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == osName {
			switch sel.Sel.Name {
			case "Getenv", "LookupEnv": // os.Environ only hands the environment on to a child process
				out = append(out, "os."+sel.Sel.Name+" at line "+strconv.Itoa(fset.Position(sel.Pos()).Line))
			}
		}
		return true
	})
	return out, nil
}

// repoRoot is the folder holding go.mod, above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
