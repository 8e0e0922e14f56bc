package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/settings.md from the catalogue (make docs)")

// TestSettingsReferenceIsCurrent fails when docs/settings.md differs from what the catalogue
// renders: run `make docs` and commit the result.
func TestSettingsReferenceIsCurrent(t *testing.T) {
	path := filepath.Join(repoRoot(t), "docs", "settings.md")
	want := config.Reference()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("docs/settings.md is stale (or missing: %v): run `make docs` and commit it", err)
	}
}

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// TestCatalogue checks every setting: a unique key of the agreed shape, a sentence of doc, at least
// one place, a fix for every setting that is neither optional nor defaulted, commands that read it, and no
// environment variable claimed by two settings.
func TestCatalogue(t *testing.T) {
	keys := map[string]bool{}
	envs := map[string]string{}
	for _, s := range config.Catalogue {
		if !keyPattern.MatchString(s.Key) || keys[s.Key] {
			t.Errorf("setting %q: key malformed or twice", s.Key)
		}
		keys[s.Key] = true
		if !strings.HasSuffix(s.Doc, ".") || len(s.Lookups) == 0 || len(s.Commands) == 0 {
			t.Errorf("setting %s: needs a one-sentence doc, at least one place and the commands that read it", s.Key)
		}
		for _, e := range s.EnvVars() {
			if other, ok := envs[e]; ok {
				t.Errorf("environment variable %s is claimed by %s and %s: one name per concept", e, other, s.Key)
			}
			envs[e] = s.Key
		}
		last := s.Lookups[len(s.Lookups)-1].Kind
		hasDefault := last == config.KindDefault || last == config.KindDerived
		if s.Fix == "" && !s.Optional && !hasDefault {
			t.Errorf("setting %s: a required setting needs a Fix (what to do when it is missing)", s.Key)
		}
	}
}
