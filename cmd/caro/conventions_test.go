package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The CLI convention (docs/cli-style.md), checked over the whole command tree. Each rule has a
// name; a violation is "<rule>: <command path>[ --flag]".
//
// conventionDebt lists the violations left from before the convention, each to be removed as its
// owner's files are swept. The list may only shrink: a violation not in it fails the test, and so
// does an entry that no longer occurs (remove it).
var conventionDebt = map[string]bool{}

// destructive are the commands that change or remove data or state an operator cannot get back by
// running them again: each takes -y/--yes and otherwise asks (confirm).
var destructive = []string{
	"caro failover apply", "caro failover unlock",
	"caro backup restore", "caro backup atlas-restore", "caro backup recover", "caro backup discard-replaced",
	"caro gdpr reapply",
	"caro audit recover", "caro audit release-hold",
	"caro tenant delete",
}

// topLevelVerbs are the commands allowed without a noun: the conventional ones of every CLI.
var topLevelVerbs = []string{"version", "completion", "help"}

func TestCLIConvention(t *testing.T) {
	root := newRootCmd(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	got := conventionViolations(root)
	var fresh, stale []string
	for v := range got {
		if !conventionDebt[v] {
			fresh = append(fresh, v)
		}
	}
	for v := range conventionDebt {
		if !got[v] {
			stale = append(stale, v)
		}
	}
	sort.Strings(fresh)
	sort.Strings(stale)
	if len(fresh) > 0 {
		t.Errorf("these break the CLI convention (docs/cli-style.md); follow it:\n  %s", strings.Join(fresh, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("these are fixed: remove them from conventionDebt:\n  %s", strings.Join(stale, "\n  "))
	}
}

// conventionViolations walks the tree and names every violation.
func conventionViolations(root *cobra.Command) map[string]bool {
	out := map[string]bool{}
	add := func(rule, path, flag string) {
		v := rule + ": " + path
		if flag != "" {
			v += " --" + flag
		}
		out[v] = true
	}
	var walk func(c *cobra.Command, depth int)
	walk = func(c *cobra.Command, depth int) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		path := c.CommandPath()
		if c.Example == "" {
			add("example", path, "")
		}
		switch {
		case depth == 1 && c.Annotations[groupAnnotation] == "" && !slices.Contains(topLevelVerbs, c.Name()):
			add("noun-verb", path, "") // caro <noun> <verb>: a noun acts only through its verbs
		case depth > 2 && !isUnder(c, "completion"):
			add("noun-verb", path, "")
		}
		isDestructive := slices.Contains(destructive, path)
		hasYes := false
		flags := c.LocalFlags()
		flags.VisitAll(func(f *pflag.Flag) {
			checkFlag(c, f, add)
			if f.Name == "yes" {
				hasYes = true
			}
			if f.Name == "yes" && !isDestructive {
				add("destructive-list", path, "yes") // a command that confirms is destructive: list it above
			}
		})
		if isDestructive && !hasYes {
			add("confirm", path, "")
		}
		for _, s := range c.Commands() {
			walk(s, depth+1)
		}
	}
	walk(root, 0)
	return out
}

func isUnder(c *cobra.Command, name string) bool {
	for p := c.Parent(); p != nil; p = p.Parent() {
		if p.Name() == name {
			return true
		}
	}
	return false
}

// checkFlag applies the flag rules.
func checkFlag(c *cobra.Command, f *pflag.Flag, add func(rule, path, flag string)) {
	path := c.CommandPath()
	usage := strings.ToLower(f.Usage)
	switch {
	case f.Shorthand == "o" && f.Name != "output", f.Name == "output" && f.Shorthand != "o":
		add("output", path, f.Name) // -o/--output is the format, always both spellings
	case f.Name == "output" && (f.DefValue != "text" || !strings.Contains(usage, "text") || !strings.Contains(usage, "json")):
		add("output-values", path, f.Name) // text (default) or json, and the help says so
	}
	if f.Name == "format" {
		add("format", path, f.Name) // one name per concept: the format is -o/--output
	}
	if (f.Shorthand == "f") != (f.Name == "file") {
		add("input-file", path, f.Name)
	}
	if f.Name == "plan" || f.Name == "input" || f.Name == "in" {
		add("input-file", path, f.Name) // the command's input file is positional or -f/--file
	}
	if f.Name == "force" {
		add("confirm", path, f.Name) // confirmation is -y/--yes
	}
	if f.Name == "yes" && f.Shorthand != "y" {
		add("yes-shorthand", path, f.Name)
	}
	if f.Name != "mongodb-uri" && (strings.Contains(f.Name, "uri") || strings.Contains(usage, "mongodb uri") || strings.Contains(usage, "connection string")) {
		add("mongodb-uri", path, f.Name) // one name for a MongoDB connection string
	}
	if strings.Contains(f.Usage, "`") {
		add("no-backticks", path, f.Name) // pflag renders `x` as the flag's value name
	}
}

// ownConfirmation lists the files whose --yes is still checked by hand instead of through confirm
// (it may only shrink, like conventionDebt).
var ownConfirmation = map[string]bool{}

// TestEveryConfirmationGoesThroughConfirm: a file that defines a --yes flag asks through the one
// helper (confirm.go), so every destructive act asks on a terminal and refuses without one alike.
func TestEveryConfirmationGoesThroughConfirm(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || file == "confirm.go" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		hasYes, usesConfirm := strings.Contains(src, `"yes"`), strings.Contains(src, "confirm(streams")
		switch {
		case hasYes && !usesConfirm && !ownConfirmation[file]:
			t.Errorf("%s defines --yes but does not ask through confirm(streams, yes, question)", file)
		case ownConfirmation[file] && (usesConfirm || !hasYes):
			t.Errorf("%s no longer checks --yes by hand: remove it from ownConfirmation", file)
		}
	}
}

// TestCommandsWriteOnlyToTheirStreams: data goes to IOStreams.Out, progress and prompts to
// IOStreams.ErrOut; only main.go touches the process's own streams, so tests and the progress
// rendering see everything a command writes.
func TestCommandsWriteOnlyToTheirStreams(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || file == "main.go" {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			name := id.Name + "." + sel.Sel.Name
			switch name {
			case "os.Stdout", "os.Stderr", "os.Stdin", "fmt.Print", "fmt.Printf", "fmt.Println":
				t.Errorf("%s: %s: write to the command's IOStreams instead", fset.Position(sel.Pos()), name)
			}
			return true
		})
	}
}
