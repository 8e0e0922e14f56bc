package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// notThe is the evidence of a file that is not the report its flag names.
func notThe(id string, f File, what string, err error) Evidence {
	p := fmt.Sprintf("%s is not %s", f.Path, what)
	if err != nil {
		p += fmt.Sprintf(" (%v)", err)
	}
	return Evidence{ID: id, Status: Failed, Files: []File{f}, Summary: "unreadable report", Problems: []string{p}}
}

// collectGovulncheck reads govulncheck's JSON stream (-format json): a finding whose trace starts
// at a function is a vulnerability the code calls, which fails; imported or required-only findings
// are counted.
func collectGovulncheck(c *Catalogue, in Inputs) []Evidence {
	const id = "govulncheck"
	f, t, err := readFile(in.Govulncheck, "make audit-go (scripts/govulncheck.sh writes it)")
	if err != nil {
		return []Evidence{missing(id, err)}
	}
	type frame struct {
		Module, Package, Function string
	}
	var cfg *struct {
		ScannerName    string `json:"scanner_name"`
		ScannerVersion string `json:"scanner_version"`
		DB             string `json:"db"`
		DBLastModified string `json:"db_last_modified"`
		ScanLevel      string `json:"scan_level"`
	}
	called, imported := map[string]bool{}, map[string]bool{}
	var problems []string
	dec := json.NewDecoder(bytes.NewReader(f.data))
	for {
		var msg struct {
			Config  json.RawMessage `json:"config"`
			Finding *struct {
				OSV          string  `json:"osv"`
				FixedVersion string  `json:"fixed_version"`
				Trace        []frame `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return []Evidence{notThe(id, f, "govulncheck -format json output", err)}
		}
		if msg.Config != nil {
			_ = json.Unmarshal(msg.Config, &cfg)
		}
		if fd := msg.Finding; fd != nil && len(fd.Trace) > 0 {
			if fd.Trace[0].Function != "" {
				if !called[fd.OSV] {
					fix := fd.FixedVersion
					if fix == "" {
						fix = "no fixed version"
					}
					problems = append(problems, fmt.Sprintf("%s reached in %s (%s; fixed in %s)", fd.OSV, fd.Trace[0].Module, fd.Trace[0].Package, fix))
				}
				called[fd.OSV] = true
			} else {
				imported[fd.OSV] = true
			}
		}
	}
	if cfg == nil || cfg.ScannerName != "govulncheck" {
		return []Evidence{notThe(id, f, "govulncheck -format json output", errors.New("no config message from govulncheck"))}
	}
	for v := range called {
		delete(imported, v)
	}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime,
		Counts: []Count{{Label: "reachable vulnerabilities", Value: len(called), Bad: true}, {Label: "in dependencies, not reached", Value: len(imported)}}}
	e.Summary = fmt.Sprintf("govulncheck %s (%s scan, database %s of %s): %d reachable vulnerabilities, %d in dependencies but not reached",
		cfg.ScannerVersion, cfg.ScanLevel, cfg.DB, cfg.DBLastModified, len(called), len(imported))
	if len(problems) > 0 {
		e.Status, e.Problems = Failed, problems
	}
	return []Evidence{e}
}

// PentestResults is the attack suite's results file (pentest/lib/results-reporter.js writes it).
type PentestResults struct {
	Format    string        `json:"format"`
	Target    string        `json:"target"`
	TokenMode string        `json:"tokenMode"`
	Started   time.Time     `json:"started"`
	Finished  time.Time     `json:"finished"`
	Passed    int           `json:"passed"`
	Failed    int           `json:"failed"`
	Skipped   int           `json:"skipped"`
	Cases     []PentestCase `json:"cases"`
}

// PentestCase is one attack of the suite.
type PentestCase struct {
	Name    string `json:"name"`
	File    string `json:"file"`
	Status  string `json:"status"` // passed, failed or skipped
	Message string `json:"message,omitempty"`
}

// PentestFormat is the format tag of the results file.
const PentestFormat = "caro-pentest-results/1"

// collectPentest reads the attack suite's results: the whole suite (pentest) and its header cases
// (headers-runner).
func collectPentest(c *Catalogue, in Inputs) []Evidence {
	f, _, err := readFile(in.Pentest, "make pentest (or scripts/pentest-remote.sh)")
	if err != nil {
		return []Evidence{missing("pentest", err), missing("headers-runner", err)}
	}
	var r PentestResults
	if err := json.Unmarshal(f.data, &r); err != nil || r.Format != PentestFormat || r.Finished.IsZero() {
		return []Evidence{notThe("pentest", f, "the attack suite's results ("+PentestFormat+")", err),
			notThe("headers-runner", f, "the attack suite's results ("+PentestFormat+")", err)}
	}
	where := fmt.Sprintf("against %s (tokens: %s)", r.Target, r.TokenMode)
	suite := pentestEvidence("pentest", f, r, r.Cases, where)
	var hdr []PentestCase
	for _, k := range r.Cases {
		if strings.HasSuffix(k.File, "headers.test.js") {
			hdr = append(hdr, k)
		}
	}
	return []Evidence{suite, pentestEvidence("headers-runner", f, r, hdr, where)}
}

func pentestEvidence(id string, f File, r PentestResults, cases []PentestCase, where string) Evidence {
	n := map[string]int{}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: r.Finished.UTC(), TimeSource: "stated in the file (finished)"}
	for _, k := range cases {
		n[k.Status]++
		if k.Status == "failed" {
			e.Problems = append(e.Problems, fmt.Sprintf("attack not refused: %s (%s): %s", k.Name, k.File, firstLine(k.Message)))
		}
	}
	e.Counts = []Count{{Label: "attacks refused", Value: n["passed"]}, {Label: "skipped", Value: n["skipped"]}, {Label: "attacks not refused", Value: n["failed"], Bad: true}}
	e.Summary = fmt.Sprintf("%d attacks refused, %d not refused, %d skipped, %s", n["passed"], n["failed"], n["skipped"], where)
	if id == "pentest" && (r.Failed != n["failed"] || r.Passed != n["passed"]) {
		e.Problems = append(e.Problems, fmt.Sprintf("the totals (%d passed, %d failed) do not match the cases listed", r.Passed, r.Failed))
	}
	if n["passed"] == 0 {
		e.Problems = append(e.Problems, "no case ran: nothing was tested")
	}
	if len(e.Problems) > 0 {
		e.Status = Failed
	}
	return e
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// drillReport is the part of `caro failover drill -o json` the collector reads (internal/providers/local
// DrillReport; a test keeps the two in step).
type drillReport struct {
	OK               *bool   `json:"ok"`
	RTOSeconds       float64 `json:"rto_seconds"`
	RPOSeconds       float64 `json:"rpo_seconds"`
	RecordsExpected  int64   `json:"records_expected"`
	RecordsRestored  int64   `json:"records_restored"`
	ChecksumExpected string  `json:"checksum_expected"`
	ChecksumRestored string  `json:"checksum_restored"`
	DNSBefore        string  `json:"dns_before"`
	DNSAfter         string  `json:"dns_after"`
	KilledAt         string  `json:"killed_at"`
	Steps            []struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds"`
		Status  string  `json:"status"`
		Detail  string  `json:"detail"`
	} `json:"steps"`
	Problems []string `json:"problems"`
	Ledger   *struct {
		OK                  bool   `json:"ok"`
		EntriesExpected     int    `json:"entries_expected"`
		EntriesRestored     int    `json:"entries_restored"`
		VerifyOK            bool   `json:"verify_ok"`
		EntriesVerified     uint64 `json:"entries_verified"`
		CheckpointsVerified int    `json:"checkpoints_verified"`
		FirstBad            string `json:"first_bad"`
	} `json:"ledger"`
}

// collectDrill reads the drill report: the failover (drill) and its audit-ledger rehearsal
// (drill-ledger).
func collectDrill(c *Catalogue, in Inputs) []Evidence {
	f, t, err := readFile(in.Drill, "caro failover drill -o json > "+in.Drill)
	if err != nil {
		return []Evidence{missing("drill", err), missing("drill-ledger", err)}
	}
	var r drillReport
	if err := json.Unmarshal(f.data, &r); err != nil || r.OK == nil {
		return []Evidence{notThe("drill", f, "a drill report (caro failover drill -o json)", err), notThe("drill-ledger", f, "a drill report (caro failover drill -o json)", err)}
	}
	d := Evidence{ID: "drill", Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime, TargetSeconds: in.DrillRTOTarget.Seconds()}
	for _, s := range r.Steps {
		d.Steps = append(d.Steps, Step{Name: s.Name, Seconds: s.Seconds, Status: s.Status})
	}
	if !*r.OK {
		d.Problems = append(d.Problems, "the drill failed")
		d.Problems = append(d.Problems, r.Problems...)
	}
	if r.RTOSeconds > in.DrillRTOTarget.Seconds() {
		d.Problems = append(d.Problems, fmt.Sprintf("RTO %.1f s is over the target %.0f s", r.RTOSeconds, in.DrillRTOTarget.Seconds()))
	}
	if r.RecordsRestored != r.RecordsExpected || r.RecordsExpected == 0 {
		d.Problems = append(d.Problems, fmt.Sprintf("%d of %d records restored", r.RecordsRestored, r.RecordsExpected))
	}
	if r.ChecksumRestored != r.ChecksumExpected || r.ChecksumExpected == "" {
		d.Problems = append(d.Problems, "the restored records' checksum differs from the primary's")
	}
	if len(r.Steps) == 0 {
		d.Problems = append(d.Problems, "the report lists no step")
	}
	killed := ""
	if r.KilledAt != "" {
		killed = fmt.Sprintf(", apply killed at %s and resumed", r.KilledAt)
	}
	d.Summary = fmt.Sprintf("RTO %.1f s (target %.0f s), RPO %.1f s, %d/%d records with equal checksums, DNS %s -> %s%s",
		r.RTOSeconds, in.DrillRTOTarget.Seconds(), r.RPOSeconds, r.RecordsRestored, r.RecordsExpected, r.DNSBefore, r.DNSAfter, killed)
	if len(d.Problems) > 0 {
		d.Status = Failed
	}
	l := Evidence{ID: "drill-ledger", Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime}
	switch lg := r.Ledger; {
	case lg == nil:
		l.Status, l.Summary = Failed, "the drill report has no audit ledger rehearsal"
		l.Problems = []string{"the drill report has no ledger section"}
	default:
		l.Summary = fmt.Sprintf("%d/%d ledger entries recovered in the standby; verify %s: %d entries, %d checkpoints",
			lg.EntriesRestored, lg.EntriesExpected, map[bool]string{true: "OK", false: "FAILED"}[lg.VerifyOK], lg.EntriesVerified, lg.CheckpointsVerified)
		if !lg.OK || !lg.VerifyOK || lg.EntriesRestored != lg.EntriesExpected || lg.EntriesExpected == 0 {
			l.Status = Failed
			l.Problems = []string{"the ledger was not recovered and verified completely" + strings.TrimSuffix(": "+lg.FirstBad, ": ")}
		}
	}
	return []Evidence{d, l}
}

// collectBackupVerify reads `caro backup verify -o json` (internal/backup VerifyReport).
func collectBackupVerify(c *Catalogue, in Inputs) []Evidence {
	const id = "backup-verify"
	f, t, err := readFile(in.BackupVerify, "caro backup verify <backup-id> -o json > "+in.BackupVerify)
	if err != nil {
		return []Evidence{missing(id, err)}
	}
	var r struct {
		BackupID     string    `json:"backupId"`
		SourceRegion string    `json:"sourceRegion"`
		BackupTime   time.Time `json:"backupTime"`
		Collections  []any     `json:"collections"`
		Documents    int64     `json:"documents"`
		OK           *bool     `json:"ok"`
		Problem      string    `json:"problem"`
		DurationNs   int64     `json:"durationNs"`
	}
	if err := json.Unmarshal(f.data, &r); err != nil || r.OK == nil || r.BackupID == "" {
		return []Evidence{notThe(id, f, "a backup verification report (caro backup verify -o json)", err)}
	}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime,
		Counts: []Count{{Label: "documents checked", Value: int(r.Documents)}, {Label: "collections", Value: len(r.Collections)}}}
	e.Summary = fmt.Sprintf("backup %s (%s, taken %s): %d documents in %d collections restored and checked in %.1f s",
		r.BackupID, r.SourceRegion, r.BackupTime.UTC().Format(time.RFC3339), r.Documents, len(r.Collections), time.Duration(r.DurationNs).Seconds())
	if !*r.OK {
		e.Status, e.Problems = Failed, []string{"backup " + r.BackupID + " did not verify: " + r.Problem}
	}
	return []Evidence{e}
}

// collectAuditVerify reads `caro audit verify -o json` (internal/ledger Report).
func collectAuditVerify(c *Catalogue, in Inputs) []Evidence {
	const id = "audit-verify"
	f, t, err := readFile(in.AuditVerify, "caro audit verify -o json > "+in.AuditVerify)
	if err != nil {
		return []Evidence{missing(id, err)}
	}
	var r struct {
		OK                  *bool  `json:"ok"`
		FromSeq             uint64 `json:"fromSeq"`
		EntriesVerified     uint64 `json:"entriesVerified"`
		CheckpointsVerified int    `json:"checkpointsVerified"`
		UnanchoredEntries   uint64 `json:"unanchoredEntries"`
		FirstBad            *struct {
			Seq    uint64 `json:"seq"`
			Reason string `json:"reason"`
		} `json:"firstBad"`
	}
	if err := json.Unmarshal(f.data, &r); err != nil || r.OK == nil {
		return []Evidence{notThe(id, f, "an audit ledger verification report (caro audit verify -o json)", err)}
	}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime,
		Counts: []Count{{Label: "entries verified", Value: int(r.EntriesVerified)}, {Label: "checkpoints verified", Value: r.CheckpointsVerified}}}
	e.Summary = fmt.Sprintf("%d entries (from entry %d) and %d checkpoints verified; %d not yet anchored", r.EntriesVerified, r.FromSeq, r.CheckpointsVerified, r.UnanchoredEntries)
	switch {
	case !*r.OK && r.FirstBad != nil:
		e.Problems = []string{fmt.Sprintf("entry %d does not verify: %s", r.FirstBad.Seq, r.FirstBad.Reason)}
	case !*r.OK:
		e.Problems = []string{"the ledger does not verify"}
	case r.EntriesVerified == 0:
		e.Problems = []string{"no entry was verified: the verification proves nothing"}
	}
	if len(e.Problems) > 0 {
		e.Status = Failed
	}
	return []Evidence{e}
}

// collectFailoverReadiness reads `caro failover readiness -o json` (issue 15, not built yet). Only
// "ok" is read, with "blockers" and "warnings" when present; until the file exists the evidence
// is not run (optional in the catalogue), never a pass.
func collectFailoverReadiness(c *Catalogue, in Inputs) []Evidence {
	const id = "failover-readiness"
	f, t, err := readFile(in.FailoverReadiness, "caro failover readiness -o json > "+in.FailoverReadiness)
	if err != nil {
		return []Evidence{missing(id, err)}
	}
	var r struct {
		OK       *bool             `json:"ok"`
		Blockers []json.RawMessage `json:"blockers"`
		Warnings []json.RawMessage `json:"warnings"`
	}
	if err := json.Unmarshal(f.data, &r); err != nil || r.OK == nil {
		return []Evidence{notThe(id, f, "a failover readiness report with \"ok\"", err)}
	}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime,
		Counts:  []Count{{Label: "blockers", Value: len(r.Blockers), Bad: true}, {Label: "warnings", Value: len(r.Warnings)}},
		Summary: fmt.Sprintf("ready: %d blockers, %d warnings", len(r.Blockers), len(r.Warnings))}
	if !*r.OK || len(r.Blockers) > 0 {
		e.Status, e.Summary = Failed, fmt.Sprintf("not ready: %d blockers, %d warnings", len(r.Blockers), len(r.Warnings))
		for _, b := range r.Blockers {
			var s string
			if json.Unmarshal(b, &s) != nil {
				s = string(b)
			}
			e.Problems = append(e.Problems, "blocker: "+s)
		}
		if len(e.Problems) == 0 {
			e.Problems = []string{"the readiness report says not ok"}
		}
	}
	return []Evidence{e}
}
