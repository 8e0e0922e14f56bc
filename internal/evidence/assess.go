package evidence

import (
	"fmt"
	"strings"
	"time"
)

// ControlStatus is the assessed status of a control.
type ControlStatus string

// The four control statuses of the issue: satisfied (all evidence passed and fresh), failed (some
// evidence failed or is missing: named), stale (some evidence older than its limit), and not
// evidenced by this toolkit (a human process must evidence it: named).
const (
	Satisfied    ControlStatus = "satisfied"
	ControlFail  ControlStatus = "failed"
	ControlStale ControlStatus = "stale"
	NotEvidenced ControlStatus = "not evidenced"
)

// ControlStatuses lists the statuses in report order.
var ControlStatuses = []ControlStatus{Satisfied, ControlFail, ControlStale, NotEvidenced}

// MappedEvidence is one piece of evidence as it counts for one control.
type MappedEvidence struct {
	Definition Definition
	Evidence   *Evidence
	Why        string
	// Via is the ISO control the mapping is inherited from (NEN 7510), empty for the control's own.
	Via string
}

// ControlResult is the assessment of one control.
type ControlResult struct {
	Control  Control
	Status   ControlStatus
	Reason   string
	Evidence []MappedEvidence
}

// FrameworkSummary counts a framework's controls per status.
type FrameworkSummary struct {
	Framework Framework
	Counts    map[ControlStatus]int
	Total     int
}

// Assessment is the result of assessing the catalogue against the collected evidence.
type Assessment struct {
	Time       time.Time
	Catalogue  *Catalogue
	Evidence   []Evidence
	Controls   []ControlResult
	Frameworks []FrameworkSummary
}

// Failed returns the failed controls.
func (a *Assessment) Failed() []ControlResult {
	var out []ControlResult
	for _, c := range a.Controls {
		if c.Status == ControlFail {
			out = append(out, c)
		}
	}
	return out
}

// EvidenceByID returns the collected evidence with that ID.
func (a *Assessment) EvidenceByID(id string) *Evidence {
	for i := range a.Evidence {
		if a.Evidence[i].ID == id {
			return &a.Evidence[i]
		}
	}
	return nil
}

// Assess marks passed evidence older than its limit stale (at now) and assesses every control.
func Assess(c *Catalogue, evidence []Evidence, now time.Time) *Assessment {
	a := &Assessment{Time: now.UTC(), Catalogue: c, Evidence: evidence}
	for i := range a.Evidence {
		e := &a.Evidence[i]
		d, _ := c.Definition(e.ID)
		limit := time.Duration(d.MaxAgeDays) * 24 * time.Hour
		if e.Status == Passed && !e.Time.IsZero() && now.Sub(e.Time) > limit {
			e.Status = Stale
			e.Problems = append(e.Problems, fmt.Sprintf("produced %s, %s ago: older than its limit of %d days; run %s again",
				e.Time.Format(time.RFC3339), now.Sub(e.Time).Round(time.Hour), d.MaxAgeDays, d.ProducedBy))
		}
	}
	for _, k := range c.Controls {
		a.Controls = append(a.Controls, a.assessControl(k))
	}
	for _, f := range c.Frameworks {
		s := FrameworkSummary{Framework: f, Counts: map[ControlStatus]int{}}
		for _, r := range a.Controls {
			if r.Control.Framework == f.ID {
				s.Counts[r.Status]++
				s.Total++
			}
		}
		a.Frameworks = append(a.Frameworks, s)
	}
	return a
}

func (a *Assessment) assessControl(k Control) ControlResult {
	r := ControlResult{Control: k}
	if k.Via != "" {
		if iso, ok := a.Catalogue.Control("iso27001", k.Via); ok {
			for _, m := range iso.Evidence {
				r.Evidence = append(r.Evidence, a.mapped(m, k.Via))
			}
		}
	}
	for _, m := range k.Evidence {
		r.Evidence = append(r.Evidence, a.mapped(m, ""))
	}
	if len(r.Evidence) == 0 {
		r.Status, r.Reason = NotEvidenced, "needs a human process: "+k.Human
		return r
	}
	var failed, stale []string
	passed := 0
	for _, m := range r.Evidence {
		switch m.Evidence.Status {
		case Passed:
			passed++
		case Failed:
			failed = append(failed, fmt.Sprintf("%s failed (%s)", m.Definition.ID, strings.Join(m.Evidence.Problems, "; ")))
		case Missing:
			failed = append(failed, fmt.Sprintf("%s missing (%s)", m.Definition.ID, strings.Join(m.Evidence.Problems, "; ")))
		case Stale:
			stale = append(stale, fmt.Sprintf("%s stale (produced %s, limit %d days)", m.Definition.ID, m.Evidence.Time.Format(time.RFC3339), m.Definition.MaxAgeDays))
		}
	}
	switch {
	case len(failed) > 0:
		r.Status, r.Reason = ControlFail, strings.Join(failed, "; ")
	case len(stale) > 0:
		r.Status, r.Reason = ControlStale, strings.Join(stale, "; ")
	case passed == 0:
		r.Status, r.Reason = ControlFail, "no evidence of this control ran"
	default:
		r.Status, r.Reason = Satisfied, fmt.Sprintf("%d pieces of evidence passed and are fresh", passed)
	}
	return r
}

func (a *Assessment) mapped(m Mapping, via string) MappedEvidence {
	d, _ := a.Catalogue.Definition(m.Ref)
	e := a.EvidenceByID(m.Ref)
	if e == nil {
		e = &Evidence{ID: m.Ref, Status: Missing, Problems: []string{"not collected"}}
	}
	return MappedEvidence{Definition: d, Evidence: e, Why: m.Why, Via: via}
}

// Label names a control for people: the framework's short name and the ID.
func (a *Assessment) Label(k Control) string {
	f, _ := a.Catalogue.Framework(k.Framework)
	return f.Short + " " + k.ID
}
