package release_test

import (
	"context"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/release"
)

// TestManifestFieldNamesMatchExactly: a release manifest is read only in the form Publish writes it:
// a field in another letter case or given twice (encoding/json kept the last copy, so a reader of the
// object and the deploy could see different template hashes) is a damaged manifest.
func TestManifestFieldNamesMatchExactly(t *testing.T) {
	ctx := context.Background()
	store := bucket(t)
	sum := strings.Repeat("a", 64)
	stackJSON := `{"template":"releases/5.0.0/s.template.json","size":1,"sha256":"` + sum + `","assets":[]}`
	good := `{"version":"5.0.0","createdAt":"2026-11-23T06:00:00Z","stacks":{"` + stack + `":` + stackJSON + `}}`
	put(t, store, release.ManifestKey("5.0.0"), good)
	if _, err := release.ReadManifest(ctx, store, "5.0.0"); err != nil {
		t.Fatalf("the manifest as written is refused: %v", err)
	}
	for name, body := range map[string]string{
		"capitalised version":  strings.Replace(good, `"version"`, `"Version"`, 1),
		"version twice":        strings.Replace(good, `"version":"5.0.0"`, `"version":"5.0.0","VERSION":"5.0.0"`, 1),
		"hash twice":           strings.Replace(good, `"sha256":"`+sum+`"`, `"sha256":"`+sum+`","SHA256":"`+strings.Repeat("b", 64)+`"`, 1),
		"stacks in upper case": strings.Replace(good, `"stacks"`, `"STACKS"`, 1),
	} {
		put(t, store, release.ManifestKey("5.0.0"), body)
		if m, err := release.ReadManifest(ctx, store, "5.0.0"); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: read as %+v, err %v", name, m, err)
		}
	}
}
