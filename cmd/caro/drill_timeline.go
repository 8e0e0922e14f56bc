package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/carohealth/platform/internal/providers/local"
	"github.com/carohealth/platform/internal/timeline"
)

// writeDrillTimeline writes the drill's failover as a timeline page to path.
func writeDrillTimeline(path string, r *local.DrillReport) error {
	var b bytes.Buffer
	if err := drillTimeline(r).WriteHTML(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the drill's timeline: %w: check --timeline %s", err, path)
	}
	return nil
}

// drillTimeline turns the drill's report into its timeline: the plan, then each step from its
// first start to its completion (steps without journal times follow one another).
func drillTimeline(r *local.DrillReport) timeline.Timeline {
	state := "OK"
	if !r.OK {
		state = "FAILED"
	}
	t := timeline.Timeline{
		Title: fmt.Sprintf("Drill %s: %s -> %s, %d records", state, local.DrillPrimary, local.DrillStandby, r.RecordsExpected),
		RPO:   seconds(r.RPOSeconds),
		RTO:   seconds(r.RTOSeconds),
		Steps: []timeline.Step{{Name: "plan", End: seconds(r.PlanSeconds), Status: "completed", Detail: "caro failover plan"}},
	}
	next := seconds(r.PlanSeconds)
	for _, s := range r.Steps {
		st := timeline.Step{Name: s.Name, Status: s.Status, Detail: s.Detail, Start: seconds(s.StartSeconds), End: seconds(s.EndSeconds)}
		if s.StartSeconds == 0 && s.EndSeconds == 0 {
			st.Start, st.End = next, next+seconds(s.Seconds)
		}
		next = st.End
		t.Steps = append(t.Steps, st)
	}
	if r.KilledAt != "" {
		t.Notes = append(t.Notes, fmt.Sprintf("The apply was killed (kill -9) in the middle of %s and resumed: %d apply runs.", r.KilledAt, r.Applies))
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("Records %d/%d, checksum %.16s (expected %.16s); users %d/%d.", r.RecordsRestored, r.RecordsExpected, r.ChecksumRestored, r.ChecksumExpected, r.UsersRestored, r.UsersExpected),
		fmt.Sprintf("DNS api-origin.caro.test.: %s -> %s.", r.DNSBefore, r.DNSAfter))
	for _, p := range r.Problems {
		t.Notes = append(t.Notes, "Problem: "+p)
	}
	return t
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
