package restore

import (
	"fmt"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/backup"
)

// ProgressLines turns a restore's progress events into lines for a failover step's progress
// (failover.Progress): every message, and at most every interval a count line ending in
// "<phase> <collection> <done>/<total>", the form a terminal's progress bar reads
// (internal/progress.Lines) and a log keeps as a heartbeat.
func ProgressLines(progress func(format string, args ...any), every time.Duration) func(backup.Progress) {
	var mu sync.Mutex
	var last time.Time
	return func(p backup.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case p.Message != "" && p.Collection != "":
			progress("%s: %s (%d documents)", p.Collection, p.Message, p.Done)
		case p.Message != "":
			progress("%s", p.Message)
		case p.Total > 0 && (time.Since(last) >= every || p.Done >= p.Total):
			last = time.Now()
			progress("%s", fmt.Sprintf("%s %s %d/%d", p.Phase, p.Collection, p.Done, p.Total))
		}
	}
}
