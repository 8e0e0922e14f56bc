package evidence

import (
	"bytes"
	_ "embed"
	"html/template"
	"path/filepath"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Parse(reportTemplate))

// HTMLMeta is what the HTML report says besides the assessment and ReportMeta.
type HTMLMeta struct {
	ReportMeta
	// OSCALFile and OSCALSHA256 name the OSCAL document written beside the report.
	OSCALFile   string
	OSCALSHA256 string
}

type htmlFramework struct {
	Framework                                     Framework
	Bar                                           template.HTML
	Satisfied, Failed, Stale, NotEvidenced, Total int
}

type htmlEvidenceRef struct {
	ID, Title, Status, Colour, Why, Via string
}

type htmlControl struct {
	ID, Title, Anchor, Status, Colour, Reason, Healthcare, Human string
	Evidence                                                     []htmlEvidenceRef
}

type htmlTable struct {
	ID, Title string
	Controls  []htmlControl
}

type htmlFile struct {
	Name, Href, SHA256 string
}

type htmlEvidence struct {
	ID, Title, ProducedBy, Status, Colour, Summary, Time, TimeSource string
	MaxAgeDays                                                       int
	Problems                                                         []string
	Files                                                            []htmlFile
}

// EvidenceColour is the colour of an evidence status.
func EvidenceColour(s Status) string {
	switch s {
	case Passed:
		return colourSatisfied
	case Failed, Missing:
		return colourFailed
	case Stale:
		return colourStale
	}
	return colourNotEvidenced
}

// RenderHTML renders the self-contained HTML report: the summary per framework, the drill's
// per-step chart and the finding counts as inline SVG, a table per framework with each control's
// evidence and status, and every evidence file linked by its SHA-256.
func RenderHTML(a *Assessment, m HTMLMeta) ([]byte, error) {
	view := map[string]any{
		"Date": a.Time.Format("2006-01-02"), "Time": a.Time.Format(time.RFC3339), "Tool": m.Tool, "RunID": m.RunID,
		"Seconds": m.Seconds, "Ledger": m.Ledger, "OSCALFile": m.OSCALFile, "OSCALSHA256": m.OSCALSHA256,
		"CatalogueSHA256": SHA256Hex(CatalogueSource()),
		"DrillChart":      drillChartSVG(a.EvidenceByID("drill")), "Drill": a.EvidenceByID("drill"),
		"CountsChart": countsChartSVG(a.Evidence),
	}
	var legend []map[string]string
	for _, s := range ControlStatuses {
		legend = append(legend, map[string]string{"Status": string(s), "Colour": StatusColour(s)})
	}
	view["Legend"] = legend
	var fws []htmlFramework
	var tables []htmlTable
	for _, s := range a.Frameworks {
		fws = append(fws, htmlFramework{Framework: s.Framework, Bar: summaryBarSVG(s), Satisfied: s.Counts[Satisfied],
			Failed: s.Counts[ControlFail], Stale: s.Counts[ControlStale], NotEvidenced: s.Counts[NotEvidenced], Total: s.Total})
		t := htmlTable{ID: "fw-" + s.Framework.ID, Title: s.Framework.Title}
		for _, r := range a.Controls {
			if r.Control.Framework != s.Framework.ID {
				continue
			}
			hc := htmlControl{ID: r.Control.ID, Title: r.Control.Title, Anchor: r.Control.OSCALID(), Status: string(r.Status),
				Colour: StatusColour(r.Status), Reason: r.Reason, Healthcare: r.Control.Healthcare, Human: r.Control.Human}
			for _, me := range r.Evidence {
				hc.Evidence = append(hc.Evidence, htmlEvidenceRef{ID: me.Definition.ID, Title: me.Definition.Title, Status: string(me.Evidence.Status),
					Colour: EvidenceColour(me.Evidence.Status), Why: me.Why, Via: me.Via})
			}
			t.Controls = append(t.Controls, hc)
		}
		tables = append(tables, t)
	}
	view["Frameworks"], view["FrameworkTables"] = fws, tables
	var failed []string
	for _, r := range a.Failed() {
		failed = append(failed, a.Label(r.Control))
	}
	view["Failed"] = failed
	var evs []htmlEvidence
	for _, e := range a.Evidence {
		d, _ := a.Catalogue.Definition(e.ID)
		he := htmlEvidence{ID: e.ID, Title: d.Title, ProducedBy: d.ProducedBy, MaxAgeDays: d.MaxAgeDays, Status: string(e.Status),
			Colour: EvidenceColour(e.Status), Summary: e.Summary, TimeSource: e.TimeSource, Problems: e.Problems}
		if !e.Time.IsZero() {
			he.Time = e.Time.Format(time.RFC3339)
		}
		for _, f := range e.Files {
			he.Files = append(he.Files, htmlFile{Name: filepath.Base(f.Path), Href: m.EvidenceHref(f), SHA256: f.SHA256})
		}
		evs = append(evs, he)
	}
	view["Evidence"] = evs
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, view); err != nil {
		return nil, err
	}
	return []byte(strings.TrimLeft(b.String(), "\n")), nil
}
