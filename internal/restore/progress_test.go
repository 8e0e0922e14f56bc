package restore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/backup"
)

func TestProgressLinesKeepMessagesAndThrottleCounts(t *testing.T) {
	var lines []string
	p := ProgressLines(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, time.Hour)
	p(backup.Progress{Phase: "switch", Message: "switching 3 collections"})
	p(backup.Progress{Phase: "stage", Collection: "patients", Done: 10, Total: 100})
	p(backup.Progress{Phase: "stage", Collection: "patients", Done: 20, Total: 100}) // within the interval: dropped
	p(backup.Progress{Phase: "stage", Collection: "patients", Done: 100, Total: 100})
	p(backup.Progress{Phase: "indexes", Collection: "patients", Message: "recreated", Done: 100})
	want := "switching 3 collections|stage patients 10/100|stage patients 100/100|patients: recreated (100 documents)"
	if got := strings.Join(lines, "|"); got != want {
		t.Fatalf("lines %q, want %q", got, want)
	}
}
