// Command mutationreport reads the gremlins results of `make mutation` (one JSON file per package)
// and the list of equivalent mutants (docs/mutation-equivalents.md), and prints per package the
// mutants killed, lived, equivalent and not covered and the test efficacy, then every mutant that
// lived and is not listed as equivalent. It exits 1 when a package's efficacy is below -min or an
// equivalent entry no longer matches its source line (a stale entry must not hide a new mutant).
//
//	go run ./scripts/mutationreport -equivalents docs/mutation-equivalents.md -min 90 .cache/mutation/*.json
//
// Efficacy is killed / (killed + lived - equivalent): a mutant that changes no behaviour cannot be
// killed by any test, so it counts neither way. Each result file is named after its package with
// "/" as "-" (internal-api.json); its file names are relative to the package.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// result is the part of gremlins' machine-readable output this report reads.
type result struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// equivalent is one row of the equivalents file.
type equivalent struct {
	Package, File string
	Line, Column  int
	Type, Code    string
	Reason        string
}

func (e equivalent) key() string {
	return fmt.Sprintf("%s/%s:%d:%d %s", e.Package, e.File, e.Line, e.Column, e.Type)
}

// counts is one package's line of the report.
type counts struct {
	Package                                                string
	Killed, Lived, Equivalent, NotCovered, TimedOut, Other int
	Survivors                                              []string
}

// Efficacy is the percentage of killable covered mutants that were killed (100 with none).
func (c counts) Efficacy() float64 {
	den := c.Killed + c.Lived - c.Equivalent
	if den <= 0 {
		return 100
	}
	return 100 * float64(c.Killed) / float64(den)
}

func main() {
	eqPath := flag.String("equivalents", "docs/mutation-equivalents.md", "the equivalent mutants (Markdown table)")
	min := flag.Float64("min", 90, "the efficacy every package must reach (percent)")
	root := flag.String("root", ".", "the repository root the packages are under")
	flag.Parse()
	if err := run(os.Stdout, *root, *eqPath, *min, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mutationreport:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, root, eqPath string, min float64, files []string) error {
	if len(files) == 0 {
		return errors.New("no result files given: run `make mutation`, which writes them under .cache/mutation")
	}
	eqs, err := readEquivalents(eqPath)
	if err != nil {
		return err
	}
	var problems []string
	for _, e := range eqs {
		if msg := checkSource(root, e); msg != "" {
			problems = append(problems, msg)
		}
	}
	eqByKey := map[string]equivalent{}
	for _, e := range eqs {
		eqByKey[e.key()] = e
	}
	var all []counts
	for _, f := range files {
		c, err := readResult(f, eqByKey)
		if err != nil {
			return err
		}
		all = append(all, c)
	}
	fmt.Fprintf(w, "%-28s %7s %6s %6s %8s %8s %9s\n", "package", "killed", "lived", "equiv", "uncover", "timeout", "efficacy")
	for _, c := range all {
		fmt.Fprintf(w, "%-28s %7d %6d %6d %8d %8d %8.2f%%\n", c.Package, c.Killed, c.Lived, c.Equivalent, c.NotCovered, c.TimedOut, c.Efficacy())
		if c.Efficacy() < min {
			problems = append(problems, fmt.Sprintf("%s: efficacy %.2f%% is below %.0f%%: kill its LIVED mutants (listed above) with tests, or list a mutant that changes no behaviour in %s with the reason", c.Package, c.Efficacy(), min, eqPath))
		}
	}
	for _, c := range all {
		for _, s := range c.Survivors {
			fmt.Fprintf(w, "LIVED %s\n", s)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// readResult counts one package's result file.
func readResult(path string, eqs map[string]equivalent) (counts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return counts{}, err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return counts{}, fmt.Errorf("%s is not a gremlins result: %w", path, err)
	}
	pkg := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".json"), "-", "/")
	c := counts{Package: pkg}
	for _, f := range r.Files {
		for _, m := range f.Mutations {
			switch m.Status {
			case "KILLED":
				c.Killed++
			case "LIVED":
				c.Lived++
				id := fmt.Sprintf("%s/%s:%d:%d %s", pkg, f.FileName, m.Line, m.Column, m.Type)
				if _, ok := eqs[id]; ok {
					c.Equivalent++
				} else {
					c.Survivors = append(c.Survivors, id)
				}
			case "NOT COVERED":
				c.NotCovered++
			case "TIMED OUT":
				c.TimedOut++
			default:
				c.Other++
			}
		}
	}
	sort.Strings(c.Survivors)
	return c, nil
}

// readEquivalents reads the rows of the Markdown table: | package | file:line:column | type | code | reason |.
func readEquivalents(path string) ([]equivalent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []equivalent
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "| internal/") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 cells (package | file:line:column | type | code | reason), got %d", path, n, len(cells))
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		var e equivalent
		e.Package, e.Type, e.Code, e.Reason = cells[0], strings.Trim(cells[2], "`"), strings.Trim(cells[3], "`"), cells[4]
		pos := strings.Trim(cells[1], "`")
		parts := strings.Split(pos, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: position %q is not file:line:column", path, n, pos)
		}
		e.File = parts[0]
		if _, err := fmt.Sscanf(parts[1]+" "+parts[2], "%d %d", &e.Line, &e.Column); err != nil {
			return nil, fmt.Errorf("%s:%d: position %q: %v", path, n, pos, err)
		}
		if e.Reason == "" || e.Code == "" {
			return nil, fmt.Errorf("%s:%d: an equivalent mutant needs the code it mutates and the reason it changes no behaviour", path, n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// checkSource reports an entry whose source line no longer holds its code (the code moved or changed:
// the entry must be looked at again).
func checkSource(root string, e equivalent) string {
	b, err := os.ReadFile(filepath.Join(root, e.Package, e.File))
	if err != nil {
		return fmt.Sprintf("equivalent %s: %v", e.key(), err)
	}
	lines := strings.Split(string(b), "\n")
	if e.Line < 1 || e.Line > len(lines) || !strings.Contains(lines[e.Line-1], e.Code) {
		return fmt.Sprintf("equivalent %s is stale: line %d no longer holds %q; find the mutant again and update the entry", e.key(), e.Line, e.Code)
	}
	return ""
}
