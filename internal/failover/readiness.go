package failover

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// CheckStatus is how a readiness check came out.
type CheckStatus string

// The statuses: a blocker stops a plan (and makes `caro failover readiness` fail); a warning is
// said loudly and does not stop anything.
const (
	CheckOK      CheckStatus = "ok"
	CheckWarning CheckStatus = "warning"
	CheckBlocker CheckStatus = "blocker"
)

// Check is one readiness check of a survey: what was checked, how it came out and why.
type Check struct {
	// Name is stable (metrics and alarms are named after it), e.g. "backup-age".
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	// Value is the check's measure where it has one (an age in seconds), for metrics.
	Value *float64 `json:"value,omitempty"`
}

func (c Check) String() string { return c.Name + ": " + c.Detail }

// OK records a passed check (also kept in Checks, the plan's "Checked:" lines).
func (s *Survey) OK(name, detail string) { s.add(Check{Name: name, Status: CheckOK, Detail: detail}) }

// Warn records a warning (also kept in Warnings).
func (s *Survey) Warn(name, detail string) {
	s.add(Check{Name: name, Status: CheckWarning, Detail: detail})
}

// Block records a blocker: no plan is made while one exists.
func (s *Survey) Block(name, detail string) {
	s.add(Check{Name: name, Status: CheckBlocker, Detail: detail})
}

// Measure sets the value of the last check recorded under name.
func (s *Survey) Measure(name string, v float64) {
	for i := len(s.Readiness) - 1; i >= 0; i-- {
		if s.Readiness[i].Name == name {
			s.Readiness[i].Value = &v
			return
		}
	}
}

func (s *Survey) add(c Check) {
	s.Readiness = append(s.Readiness, c)
	switch c.Status {
	case CheckOK:
		s.Checks = append(s.Checks, c.Detail)
	case CheckWarning:
		s.Warnings = append(s.Warnings, c.Detail)
	}
}

// Blockers returns the blocking checks.
func (s *Survey) Blockers() []Check {
	var out []Check
	for _, c := range s.Readiness {
		if c.Status == CheckBlocker {
			out = append(out, c)
		}
	}
	return out
}

// BlockedError is MakePlan's refusal when the survey found blockers: each is named.
type BlockedError struct {
	To       string
	Blockers []Check
}

func (e *BlockedError) Error() string {
	lines := make([]string, len(e.Blockers))
	for i, b := range e.Blockers {
		lines[i] = "  - " + b.String()
	}
	return fmt.Sprintf("%s is not ready to take over (%d blocker(s); nothing was changed):\n%s", e.To, len(e.Blockers), strings.Join(lines, "\n"))
}

// ReadinessReport is what `caro failover readiness` prints: every check the plan runs.
type ReadinessReport struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Provider  string    `json:"provider"`
	CheckedAt time.Time `json:"checkedAt"`
	Ready     bool      `json:"ready"`
	Blockers  int       `json:"blockers"`
	Warnings  int       `json:"warnings"`
	Checks    []Check   `json:"checks"`
	// Backup is the backup (or snapshot) a failover now would restore, when one was found.
	Backup *BackupRef `json:"backup,omitempty"`
}

// Readiness runs the provider's survey (read-only: the checks a plan runs) and reports every check.
// A survey that fails outright is reported as one blocker, never as ready.
func Readiness(ctx context.Context, prov Provider, req Request, now time.Time) *ReadinessReport {
	req.Readiness = true
	r := &ReadinessReport{From: req.From, To: req.To, Provider: prov.Name(), CheckedAt: now.UTC()}
	s, err := prov.Survey(ctx, req)
	if err != nil {
		s = &Survey{}
		s.Block("survey", err.Error())
	}
	if s.SourceHealthy {
		s.Warn("source-health", fmt.Sprintf("the source region %s is healthy (%s): a failover now moves live traffic", req.From, s.SourceDetail))
	}
	r.Checks = s.Readiness
	if s.Backup.ID != "" {
		b := s.Backup
		if !b.TakenAt.IsZero() {
			b.AgeSeconds = now.Sub(b.TakenAt).Seconds()
		}
		r.Backup = &b
	}
	for _, c := range r.Checks {
		switch c.Status {
		case CheckBlocker:
			r.Blockers++
		case CheckWarning:
			r.Warnings++
		}
	}
	r.Ready = r.Blockers == 0
	return r
}
