package gofunction

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAssetHashFollowsEveryGoSource(t *testing.T) {
	// GIVEN a module with a handler, a shared package, a test file and an npm folder
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.org/m\n")
	write("lambdas/api/main.go", "package main\n")
	write("internal/store/store.go", "package store\n")
	write("internal/store/store_test.go", "package store\n")
	write("node_modules/x/y.go", "package y\n")
	hash := func() string {
		moduleSourceHashes.Delete(root)
		return assetHash(root, "api")
	}
	base := hash()
	if base != hash() {
		t.Fatal("the hash is not deterministic")
	}
	if assetHash(root, "health") == base {
		t.Error("two handlers share a hash")
	}
	// WHEN only tests or npm files change THEN the bundle is reused
	write("internal/store/store_test.go", "package store // changed\n")
	write("node_modules/x/y.go", "package y // changed\n")
	if hash() != base {
		t.Error("a test or npm file changed the bundle hash")
	}
	// WHEN a shared package or go.mod changes THEN the handler is rebuilt
	write("internal/store/store.go", "package store // changed\n")
	changed := hash()
	if changed == base {
		t.Error("a change to a shared package kept the old bundle")
	}
	write("go.mod", "module example.org/m\n\ngo 1.26\n")
	if hash() == changed {
		t.Error("a change to go.mod kept the old bundle")
	}
}
