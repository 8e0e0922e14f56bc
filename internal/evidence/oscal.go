package evidence

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/defenseunicorns/go-oscal/src/pkg/validation"
	oscal "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"
	"github.com/google/uuid"
)

// OSCALVersion is the OSCAL version of the assessment-results document (NIST's published JSON
// schema of that version, embedded in go-oscal, validates it).
const OSCALVersion = "1.1.3"

// oscalNS is the namespace of the document's own properties (status words OSCAL has no field for).
const oscalNS = "https://caro.health/ns/evidence"

// ReportMeta is what the renderings say about the run besides the assessment.
type ReportMeta struct {
	// RunID names this run (a UUID); the document UUIDs are derived from it.
	RunID string
	// Tool is the toolkit and version that wrote the report.
	Tool string
	// Ledger says whether and where the report's hash is recorded.
	Ledger LedgerStatus
	// EvidenceHref is an evidence file's link, relative to the report (EvidenceHref).
	EvidenceHref func(File) string
	// Seconds is how long the collection and assessment took.
	Seconds float64
}

// LedgerStatus says whether the report's hash goes into the audit ledger.
type LedgerStatus struct {
	// Recorded is true when the evidence event is (to be) appended; EventID names it.
	Recorded bool   `json:"recorded"`
	EventID  string `json:"eventId,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	// Reason says why it is not recorded (no ledger configured, or the append failed).
	Reason string `json:"reason,omitempty"`
}

func (m ReportMeta) uuid(parts ...string) string {
	ns, err := uuid.Parse(m.RunID)
	if err != nil {
		ns = uuid.NameSpaceOID
	}
	return uuid.NewSHA1(ns, []byte(strings.Join(parts, "\x00"))).String()
}

// OSCAL renders the assessment as an OSCAL assessment-results document: one observation per piece
// of evidence (its files as back-matter resources with their SHA-256), one finding per control.
func OSCAL(a *Assessment, m ReportMeta) oscal.OscalCompleteSchema {
	var resources []oscal.Resource
	catalogue := oscal.Resource{UUID: m.uuid("catalogue"), Title: "Control catalogue (internal/evidence/catalogue.yaml)",
		Description: "The controls assessed and the evidence mapped to each, with one sentence why.",
		Rlinks:      &[]oscal.ResourceLink{{Href: "internal/evidence/catalogue.yaml", MediaType: "application/yaml", Hashes: &[]oscal.Hash{{Algorithm: "SHA-256", Value: SHA256Hex(CatalogueSource())}}}}}
	resources = append(resources, catalogue)
	resourceOf := map[string]string{}
	var observations []oscal.Observation
	for _, e := range a.Evidence {
		d, _ := a.Catalogue.Definition(e.ID)
		var relevant []oscal.RelevantEvidence
		for _, f := range e.Files {
			if _, ok := resourceOf[f.SHA256]; !ok {
				resourceOf[f.SHA256] = m.uuid("file", f.SHA256)
				resources = append(resources, oscal.Resource{UUID: resourceOf[f.SHA256], Title: f.Path,
					Rlinks: &[]oscal.ResourceLink{{Href: m.EvidenceHref(f), Hashes: &[]oscal.Hash{{Algorithm: "SHA-256", Value: f.SHA256}}}}})
			}
			relevant = append(relevant, oscal.RelevantEvidence{Href: "#" + resourceOf[f.SHA256], Description: fmt.Sprintf("%s (SHA-256 %s)", f.Path, f.SHA256)})
		}
		collected := e.Time
		if collected.IsZero() {
			collected = a.Time
		}
		desc := e.Summary
		if len(e.Problems) > 0 {
			desc += ". Problems: " + strings.Join(e.Problems, "; ")
		}
		o := oscal.Observation{UUID: m.uuid("observation", e.ID), Title: d.Title, Description: desc,
			Methods: []string{"TEST"}, Collected: collected.UTC(),
			Props: &[]oscal.Property{{Ns: oscalNS, Name: "evidence-id", Value: e.ID}, {Ns: oscalNS, Name: "status", Value: string(e.Status)},
				{Ns: oscalNS, Name: "produced-by", Value: d.ProducedBy}, {Ns: oscalNS, Name: "max-age-days", Value: fmt.Sprint(d.MaxAgeDays)}},
			Remarks: d.Description}
		if e.TimeSource != "" {
			*o.Props = append(*o.Props, oscal.Property{Ns: oscalNS, Name: "time-source", Value: e.TimeSource})
		}
		if len(relevant) > 0 {
			o.RelevantEvidence = &relevant
		}
		observations = append(observations, o)
	}
	var include []oscal.AssessedControlsSelectControlById
	var findings []oscal.Finding
	for _, r := range a.Controls {
		include = append(include, oscal.AssessedControlsSelectControlById{ControlId: r.Control.OSCALID()})
		state, reason := "not-satisfied", "fail"
		switch r.Status {
		case Satisfied:
			state, reason = "satisfied", "pass"
		case ControlStale, NotEvidenced:
			reason = "other"
		}
		var related []oscal.RelatedObservation
		var why []string
		for _, me := range r.Evidence {
			related = append(related, oscal.RelatedObservation{ObservationUuid: m.uuid("observation", me.Definition.ID)})
			why = append(why, me.Definition.ID+": "+me.Why)
		}
		f := oscal.Finding{UUID: m.uuid("finding", r.Control.OSCALID()), Title: a.Label(r.Control) + " " + r.Control.Title,
			Description: string(r.Status) + ": " + r.Reason,
			Target: oscal.FindingTarget{Type: "objective-id", TargetId: r.Control.OSCALID(), Title: r.Control.Title,
				Status: oscal.ObjectiveStatus{State: state, Reason: reason, Remarks: string(r.Status)}},
			Props: &[]oscal.Property{{Ns: oscalNS, Name: "framework", Value: r.Control.Framework}, {Ns: oscalNS, Name: "control", Value: r.Control.ID},
				{Ns: oscalNS, Name: "status", Value: strings.ReplaceAll(string(r.Status), " ", "-")}}}
		var remarks []string
		if len(why) > 0 {
			remarks = append(remarks, "Why this evidence: "+strings.Join(why, " "))
		}
		if r.Control.Via != "" {
			remarks = append(remarks, "Mapped through ISO/IEC 27002:2022 "+strings.TrimPrefix(r.Control.Via, "A.")+" ("+r.Control.Via+" of ISO/IEC 27001:2022).")
		}
		if r.Control.Healthcare != "" {
			remarks = append(remarks, "Healthcare-specific addition covered: "+r.Control.Healthcare)
		}
		if r.Control.Human != "" {
			remarks = append(remarks, "Human process: "+r.Control.Human)
		}
		f.Remarks = strings.Join(remarks, "\n")
		if len(related) > 0 {
			f.RelatedObservations = &related
		}
		findings = append(findings, f)
	}
	start, end := a.Time, a.Time
	for _, e := range a.Evidence {
		if !e.Time.IsZero() && e.Time.Before(start) {
			start = e.Time
		}
	}
	ledger := strings.TrimSpace("not recorded: " + m.Ledger.Reason)
	if m.Ledger.Recorded {
		ledger = "evidence event " + m.Ledger.EventID
	}
	result := oscal.Result{UUID: m.uuid("result"), Title: "Caro platform evidence " + a.Time.Format("2006-01-02"),
		Description: "Evidence read from the runs this toolkit makes (synth with cdk-nag, govulncheck, the attack suite, the failover drill, backup and audit-ledger verification), assessed against ISO/IEC 27001:2022 Annex A, NEN 7510-2, HIPAA and GDPR.",
		Start:       start.UTC(), End: ptr(end.UTC()),
		ReviewedControls: oscal.ReviewedControls{ControlSelections: []oscal.AssessedControls{{IncludeControls: &include}}},
		Observations:     &observations, Findings: &findings,
		Props: &[]oscal.Property{{Ns: oscalNS, Name: "audit-ledger", Value: ledger}}}
	doc := oscal.AssessmentResults{UUID: m.uuid("assessment-results"),
		Metadata: oscal.Metadata{Title: "Caro platform compliance evidence", LastModified: a.Time.UTC(), Version: m.RunID, OscalVersion: OSCALVersion,
			Props: &[]oscal.Property{{Ns: oscalNS, Name: "tool", Value: m.Tool}}},
		ImportAp:   oscal.ImportAp{Href: "#" + catalogue.UUID, Remarks: "The assessment plan is the control catalogue kept in the repository (back-matter)."},
		Results:    []oscal.Result{result},
		BackMatter: &oscal.BackMatter{Resources: &resources}}
	return oscal.OscalCompleteSchema{AssessmentResults: &doc}
}

func ptr[T any](v T) *T { return &v }

// ValidateOSCAL validates a rendered document against NIST's OSCAL JSON schema of its version.
func ValidateOSCAL(doc []byte) error {
	v, err := validation.NewValidatorDesiredVersion(doc, OSCALVersion)
	if err != nil {
		return fmt.Errorf("OSCAL document: %w", err)
	}
	if err := v.Validate(); err != nil {
		res, _ := v.GetValidationResult()
		var msgs []string
		for _, e := range res.Errors {
			msgs = append(msgs, fmt.Sprintf("%s: %s", e.InstanceLocation, e.Error))
			if len(msgs) == 5 {
				break
			}
		}
		return fmt.Errorf("the OSCAL document does not validate against the OSCAL %s schema: %v %s", OSCALVersion, err, strings.Join(msgs, "; "))
	}
	return nil
}

// MarshalOSCAL renders the document as indented JSON.
func MarshalOSCAL(doc oscal.OscalCompleteSchema) ([]byte, error) {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
