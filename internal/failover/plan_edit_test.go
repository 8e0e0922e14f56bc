package failover

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEditedPlanFileIsRefused: the plan on-call reviewed is the plan apply runs. Any change to the
// file's bytes after `caro failover plan` wrote it is refused, including edits that decode to the
// same plan (a key in another letter case, a field given twice whose last value is the sealed one
// while a reader sees the first, white space), which the hash over the re-encoded plan did not see.
func TestEditedPlanFileIsRefused(t *testing.T) {
	p := testPlan(t)
	p.Settings = map[string]string{"stack": "caro-b"}
	if err := p.Seal(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := WritePlan(path, p); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, orig); err != nil {
		t.Fatal(err)
	}
	edits := map[string]string{
		"key in another case":          strings.Replace(string(orig), `"to": "b"`, `"To": "b"`, 1),
		"nested key in another case":   strings.Replace(string(orig), `"name": "preflight"`, `"Name": "preflight"`, 1),
		"a reader sees the first copy": strings.Replace(string(orig), `"to": "b"`, `"to": "x", "to": "b"`, 1),
		"upper-case copy after":        strings.Replace(string(orig), `"to": "b"`, `"to": "b", "TO": "b"`, 1),
		"setting in two cases":         strings.Replace(string(orig), `"stack": "caro-b"`, `"Stack": "caro-x", "stack": "caro-b"`, 1),
		"white space":                  compact.String(),
		"number spelt otherwise":       strings.Replace(string(orig), `"expected_seconds": 1`, `"expected_seconds": 1.0`, 1),
		"newline dropped":              strings.TrimSuffix(string(orig), "\n"),
		"field added at its zero":      strings.Replace(string(orig), `"taken_at"`, `"records": 0, "taken_at"`, 1),
	}
	for name, edited := range edits {
		if edited == string(orig) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPlan(path)
		if err != nil {
			if !strings.Contains(err.Error(), "caro failover plan") {
				t.Errorf("%s: the refusal does not say what to do: %v", name, err)
			}
			continue
		}
		if err := got.Validate(time.Now(), true); !errors.Is(err, ErrPlanEdited) {
			t.Errorf("%s: edited plan accepted (Validate = %v)", name, err)
		}
	}
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(time.Now(), true); err != nil {
		t.Fatalf("the plan as written is refused: %v", err)
	}
}
