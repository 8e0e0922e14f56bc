package localstack_test

import (
	"os/exec"
	"runtime"
	"testing"

	"github.com/carohealth/platform/internal/localstack"
)

// TestRunMeasuredReportsTheChildsPeakNotTheParents: a benchmark measuring a tool's memory from a
// test process that holds a lot itself gets the tool's own peak.
func TestRunMeasuredReportsTheChildsPeakNotTheParents(t *testing.T) {
	// GIVEN a parent holding 256 MB
	held := make([]byte, 256<<20)
	for i := 0; i < len(held); i += 4096 {
		held[i] = 1
	}
	// WHEN it runs a tool that needs almost nothing, and one that fills a 64 MB buffer
	small, err := localstack.RunMeasured(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	large, err := localstack.RunMeasured(exec.Command("dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=4", "status=none"))
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(held)
	// THEN each one's peak is its own
	if small > 32<<20 {
		t.Errorf("true: peak %d MB, want its own few MB (not the parent's 256)", small>>20)
	}
	if large < 60<<20 || large > 160<<20 {
		t.Errorf("dd bs=64M: peak %d MB, want about 64", large>>20)
	}
}
