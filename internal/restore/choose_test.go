package restore

import (
	"strings"
	"testing"
	"time"
)

// TestChooseNamesTheRunItStops: the plan and the step say what they stop. A killed earlier attempt
// of the same failover (not a pre-stage, same backup) is named as such, never as "another backup".
func TestChooseNamesTheRunItStops(t *testing.T) {
	verified := time.Date(2026, 12, 8, 2, 22, 50, 0, time.UTC)
	staged := func(run *Run) *Marker {
		m := &Marker{InProgress: run, Staged: &StagedCopy{VerifiedAt: verified}}
		m.BackupID = "b1"
		return m
	}
	for _, c := range []struct {
		name      string
		m         *Marker
		path      Path
		want, not string
	}{
		{"a killed attempt of this failover over the staged copy", staged(&Run{ID: "r1", BackupID: "b1", Phase: PhaseStaging}), PathStaged,
			"an earlier restore of backup b1 (run r1", "another backup"},
		{"a pre-stage of a newer backup over the staged copy", staged(&Run{ID: "r2", BackupID: "b2", Phase: PhaseStaging, Standby: true}), PathStaged,
			"a pre-stage of backup b2 (run r2) is running: it is stopped and rolled back, and the previous copy, backup b1", ""},
		{"an earlier restore of another backup, nothing staged", &Marker{InProgress: &Run{ID: "r3", BackupID: "b0", Phase: PhaseStaging}}, PathCold,
			"an earlier restore of backup b0 (run r3", ""},
	} {
		got := Choose(c.m, "b1")
		if got.Path != c.path || !got.CancelRunning || !strings.Contains(got.Detail, c.want) || (c.not != "" && strings.Contains(got.Detail, c.not)) {
			t.Errorf("%s: %s %v %q", c.name, got.Path, got.CancelRunning, got.Detail)
		}
	}
}
