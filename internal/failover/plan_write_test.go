package failover

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestWritePlanSealsOnlyAnUnsealedPlan: WritePlan seals a plan that has no hash yet, so the file it
// writes validates; a sealed plan changed afterwards keeps its hash, so the change is refused as an
// edit rather than sealed over.
func TestWritePlanSealsOnlyAnUnsealedPlan(t *testing.T) {
	now := time.Now()
	unsealed := *testPlan(t)
	unsealed.Hash = ""
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := WritePlan(path, &unsealed); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(now, true); err != nil {
		t.Fatalf("an unsealed plan written by WritePlan does not validate: %v", err)
	}
	changed := testPlan(t)
	changed.To = "elsewhere" // after Seal
	if err := WritePlan(path, changed); err != nil {
		t.Fatal(err)
	}
	if p, err = ReadPlan(path); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(now, true); !errors.Is(err, ErrPlanEdited) {
		t.Fatalf("a plan changed after sealing validates: %v", err)
	}
}
