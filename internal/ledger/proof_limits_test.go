package ledger

import (
	"strings"
	"testing"
)

// TestInclusionPathRefusesALeafOutsideTheTree: a path is only computed for a leaf of the tree; the
// index one past the last leaf (and any beyond) is refused, never answered with a path that proves
// nothing.
func TestInclusionPathRefusesALeafOutsideTheTree(t *testing.T) {
	leaves := make([]Hash, 5)
	for i := range leaves {
		leaves[i] = EntryHash(uint64(i), Hash{}, testEvent(i, "t"))
	}
	for _, index := range []uint64{5, 6, 1 << 40} {
		if path, err := InclusionPath(leaves, index); err == nil || !strings.Contains(err.Error(), "is not in a tree of size 5") {
			t.Errorf("leaf %d of 5: path %d long, err %v", index, len(path), err)
		}
	}
	if _, err := InclusionPath(leaves, 4); err != nil {
		t.Fatalf("the last leaf: %v", err)
	}
	if _, err := InclusionPath(nil, 0); err == nil {
		t.Fatal("a path in an empty tree")
	}
}
