// Package evidence collects the compliance evidence this toolkit's own runs produce (cdk-nag reports
// and the template check in cdk.out, govulncheck's JSON, the attack suite's results, the drill
// report, the backup and audit-ledger verifications, the failover readiness report, the security
// header policy and the IAM facts of the synthesized templates), maps it to the controls of the
// catalogue (catalogue.yaml: ISO/IEC 27001:2022 Annex A, NEN 7510, HIPAA, GDPR) and assesses each
// control: satisfied, failed, stale or not evidenced by this toolkit.
//
// Every collector reads a file an earlier run wrote and never re-derives a result; a missing or
// unreadable file is never a pass. The assessment (Assess) is apart from its renderings: an OSCAL
// assessment-results document (OSCAL) and a self-contained HTML report (RenderHTML).
package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Source is the kind of run a piece of evidence is read from.
type Source string

// The sources evidence is read from; each has one collector.
const (
	SourceCDKOut            Source = "cdk-out"
	SourceGovulncheck       Source = "govulncheck"
	SourcePentest           Source = "pentest"
	SourceDrill             Source = "drill"
	SourceBackupVerify      Source = "backup-verify"
	SourceAuditVerify       Source = "audit-verify"
	SourceFailoverReadiness Source = "failover-readiness"
)

var knownSources = map[Source]bool{
	SourceCDKOut: true, SourceGovulncheck: true, SourcePentest: true, SourceDrill: true,
	SourceBackupVerify: true, SourceAuditVerify: true, SourceFailoverReadiness: true,
}

// Status is the outcome of one piece of evidence.
type Status string

// Evidence statuses. Missing is a required input that is absent or unreadable (never a pass);
// NotRun is an optional one that is absent; Stale is evidence that passed but is older than its
// limit (set by Assess).
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Missing Status = "missing"
	NotRun  Status = "not run"
	Stale   Status = "stale"
)

// File is one input file, as read: its path, size and SHA-256 of the exact bytes assessed.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// data is the content, for the report's content-addressed copy.
	data []byte
}

// Data returns the file's content as it was read and hashed.
func (f File) Data() []byte { return f.data }

// Count is one labelled number of a piece of evidence (finding counts, test counts), for the report.
type Count struct {
	Label string `json:"label"`
	Value int    `json:"value"`
	// Bad marks counts that are problems (non-compliant findings, failed attacks).
	Bad bool `json:"bad,omitempty"`
}

// Step is one timed step of the drill, for the report's RTO chart.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Status  string  `json:"status"`
}

// Evidence is one collected piece of evidence.
type Evidence struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Summary says in one line what was found.
	Summary string `json:"summary"`
	// Problems name what failed, or what is missing and the command that produces it.
	Problems []string `json:"problems,omitempty"`
	Files    []File   `json:"files,omitempty"`
	// Time is when the evidence was produced; TimeSource says where that time comes from (stated
	// in the file, or the file's modification time when the format carries none).
	Time       time.Time `json:"time,omitzero"`
	TimeSource string    `json:"timeSource,omitempty"`
	Counts     []Count   `json:"counts,omitempty"`
	Steps      []Step    `json:"steps,omitempty"`
	// TargetSeconds is the drill's RTO target, for the chart.
	TargetSeconds float64 `json:"targetSeconds,omitempty"`
}

// Inputs are the files the collectors read. Empty paths take the defaults of DefaultInputs.
type Inputs struct {
	// CDKOut is the cloud assembly folder `make synth` writes (templates, nag CSV reports,
	// template-check.json).
	CDKOut string
	// Govulncheck is govulncheck's JSON (`make audit-go` writes it).
	Govulncheck string
	// Pentest is the attack suite's results file (pentest/lib/results-reporter.js).
	Pentest string
	// Drill is `caro failover drill -o json`'s report.
	Drill string
	// BackupVerify is `caro backup verify -o json`'s report.
	BackupVerify string
	// AuditVerify is `caro audit verify -o json`'s report.
	AuditVerify string
	// FailoverReadiness is `caro failover readiness -o json`'s report.
	FailoverReadiness string
	// DrillRTOTarget is the longest drill RTO that passes.
	DrillRTOTarget time.Duration
}

// Default file names inside the evidence folder, the names the producing runs write.
const (
	GovulncheckFile       = "govulncheck.json"
	PentestFile           = "pentest-results.json"
	DrillFile             = "drill.json"
	BackupVerifyFile      = "backup-verify.json"
	AuditVerifyFile       = "audit-verify.json"
	FailoverReadinessFile = "failover-readiness.json"
)

// DefaultDrillRTOTarget is the drill's RTO goal (make bench-drill: 60 s for 50,000 records locally).
const DefaultDrillRTOTarget = 60 * time.Second

// DefaultInputs fills the empty paths of in: files named as above inside dir, and cdkOut.
func DefaultInputs(in Inputs, dir, cdkOut string) Inputs {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&in.CDKOut, cdkOut)
	def(&in.Govulncheck, filepath.Join(dir, GovulncheckFile))
	def(&in.Pentest, filepath.Join(dir, PentestFile))
	def(&in.Drill, filepath.Join(dir, DrillFile))
	def(&in.BackupVerify, filepath.Join(dir, BackupVerifyFile))
	def(&in.AuditVerify, filepath.Join(dir, AuditVerifyFile))
	def(&in.FailoverReadiness, filepath.Join(dir, FailoverReadinessFile))
	if in.DrillRTOTarget <= 0 {
		in.DrillRTOTarget = DefaultDrillRTOTarget
	}
	return in
}

// Collect runs every collector on the inputs and returns the evidence of every definition of the
// catalogue, in catalogue order. A definition no collector produced is reported missing.
func Collect(c *Catalogue, in Inputs) []Evidence {
	got := map[string]Evidence{}
	for _, col := range []func(*Catalogue, Inputs) []Evidence{
		collectCDKOut, collectGovulncheck, collectPentest, collectDrill,
		collectBackupVerify, collectAuditVerify, collectFailoverReadiness,
	} {
		for _, e := range col(c, in) {
			got[e.ID] = e
		}
	}
	out := make([]Evidence, 0, len(c.Evidence))
	for _, d := range c.Evidence {
		e, ok := got[d.ID]
		if !ok {
			e = Evidence{ID: d.ID, Status: Missing, Summary: "no collector produced this evidence",
				Problems: []string{"internal: no collector for " + d.ID}}
		}
		if e.Status == Missing && d.Optional {
			e.Status = NotRun
		}
		out = append(out, e)
	}
	return out
}

// readFile reads one input and hashes the bytes read. A missing file says which command writes it.
func readFile(path, producedBy string) (File, time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, time.Time{}, fmt.Errorf("%s is missing: run %s", path, producedBy)
	}
	if err != nil {
		return File{}, time.Time{}, fmt.Errorf("%s cannot be read: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return File{}, time.Time{}, fmt.Errorf("%s cannot be read: %w", path, err)
	}
	sum := sha256.Sum256(b)
	return File{Path: path, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)), data: b}, st.ModTime().UTC(), nil
}

// missing is the evidence of an input that could not be read.
func missing(id string, err error) Evidence {
	return Evidence{ID: id, Status: Missing, Summary: "input missing", Problems: []string{err.Error()}}
}

// fromModTime is the time source of a format that states no time of its own.
const fromModTime = "file modification time (the format states no time)"

// SHA256Hex is the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
