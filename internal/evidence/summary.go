package evidence

import "time"

// Summary is the machine-readable summary of a run (`caro evidence assess -o json`).
type Summary struct {
	// OK is false when any control failed.
	OK         bool             `json:"ok"`
	AssessedAt time.Time        `json:"assessedAt"`
	Report     string           `json:"report"`
	ReportSHA  string           `json:"reportSha256"`
	OSCAL      string           `json:"oscal"`
	OSCALSHA   string           `json:"oscalSha256"`
	Ledger     LedgerStatus     `json:"ledger"`
	Frameworks []FrameworkCount `json:"frameworks"`
	Failed     []ControlLine    `json:"failed"`
	Stale      []ControlLine    `json:"stale"`
	Evidence   []EvidenceLine   `json:"evidence"`
	Seconds    float64          `json:"seconds"`
}

// FrameworkCount is a framework's controls per status.
type FrameworkCount struct {
	ID           string `json:"id"`
	Title        string `json:"title"`
	Satisfied    int    `json:"satisfied"`
	Failed       int    `json:"failed"`
	Stale        int    `json:"stale"`
	NotEvidenced int    `json:"notEvidenced"`
	Total        int    `json:"total"`
}

// ControlLine names one control and why it has its status.
type ControlLine struct {
	Framework string `json:"framework"`
	Control   string `json:"control"`
	Title     string `json:"title"`
	Reason    string `json:"reason"`
	// Evidence names the evidence that is not passed, like "govulncheck missing".
	Evidence []string `json:"evidence,omitempty"`
}

// EvidenceLine is one piece of evidence in the summary.
type EvidenceLine struct {
	ID       string    `json:"id"`
	Status   Status    `json:"status"`
	Summary  string    `json:"summary"`
	Time     time.Time `json:"time,omitzero"`
	Problems []string  `json:"problems,omitempty"`
}

// Summarize builds the summary of a run's result.
func Summarize(r *Result) Summary {
	a := r.Assessment
	s := Summary{OK: len(a.Failed()) == 0, AssessedAt: a.Time, Report: r.HTMLPath, ReportSHA: r.HTMLSHA256,
		OSCAL: r.OSCALPath, OSCALSHA: r.OSCALSHA256, Ledger: r.Ledger, Seconds: r.Seconds,
		Failed: []ControlLine{}, Stale: []ControlLine{}}
	for _, f := range a.Frameworks {
		s.Frameworks = append(s.Frameworks, FrameworkCount{ID: f.Framework.ID, Title: f.Framework.Title, Satisfied: f.Counts[Satisfied],
			Failed: f.Counts[ControlFail], Stale: f.Counts[ControlStale], NotEvidenced: f.Counts[NotEvidenced], Total: f.Total})
	}
	for _, c := range a.Controls {
		line := ControlLine{Framework: c.Control.Framework, Control: c.Control.ID, Title: c.Control.Title, Reason: c.Reason}
		for _, m := range c.Evidence {
			if m.Evidence.Status != Passed && m.Evidence.Status != NotRun {
				line.Evidence = append(line.Evidence, m.Definition.ID+" "+string(m.Evidence.Status))
			}
		}
		switch c.Status {
		case ControlFail:
			s.Failed = append(s.Failed, line)
		case ControlStale:
			s.Stale = append(s.Stale, line)
		}
	}
	for _, e := range a.Evidence {
		s.Evidence = append(s.Evidence, EvidenceLine{ID: e.ID, Status: e.Status, Summary: e.Summary, Time: e.Time, Problems: e.Problems})
	}
	return s
}
