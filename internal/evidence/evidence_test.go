package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	oscal "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/ledger"
)

func TestCatalogueIDsAreValidAndUniqueAndEveryMappingNamesExistingEvidence(t *testing.T) {
	// GIVEN the catalogue kept in the repository WHEN it is parsed THEN it validates
	c, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	// AND it holds at least the controls the issue names
	want := map[string][]string{
		"iso27001": {"A.5.15", "A.5.23", "A.5.30", "A.5.33", "A.5.34", "A.8.5", "A.8.8", "A.8.13", "A.8.15", "A.8.16", "A.8.20", "A.8.21",
			"A.8.22", "A.8.24", "A.8.25", "A.8.26", "A.8.27", "A.8.28", "A.8.29", "A.8.32"},
		"hipaa": {"164.312(a)(1)", "164.312(a)(2)(iv)", "164.312(b)", "164.312(c)(1)", "164.312(d)", "164.312(e)(1)", "164.312(e)(2)(ii)", "164.308(a)(7)(i)"},
		"gdpr":  {"Art. 17", "Art. 20", "Art. 25", "Art. 30", "Art. 32"},
	}
	for fw, ids := range want {
		for _, id := range ids {
			if _, ok := c.Control(fw, id); !ok {
				t.Errorf("%s %s is not in the catalogue", fw, id)
			}
		}
	}
	// AND every ISO control has its NEN 7510 counterpart, and some name a healthcare addition
	healthcare := 0
	for _, k := range c.Controls {
		if k.Framework == "iso27001" {
			if _, ok := c.Control("nen7510", strings.TrimPrefix(k.ID, "A.")); !ok {
				t.Errorf("NEN 7510 %s (via %s) is missing", strings.TrimPrefix(k.ID, "A."), k.ID)
			}
		}
		if k.Healthcare != "" {
			healthcare++
		}
	}
	if healthcare < 4 {
		t.Errorf("%d NEN 7510 controls name a healthcare-specific addition, want at least 4", healthcare)
	}
	// AND every evidence definition is used by some control and produced by a collector
	used := map[string]bool{}
	for _, k := range c.Controls {
		for _, m := range c.MappingsOf(k) {
			used[m.Ref] = true
		}
	}
	f := newFixture(t)
	for _, e := range Collect(c, f.in) {
		if !used[e.ID] {
			t.Errorf("evidence %s supports no control", e.ID)
		}
		if slices.ContainsFunc(e.Problems, func(p string) bool { return strings.Contains(p, "no collector") }) {
			t.Errorf("evidence %s has no collector", e.ID)
		}
	}
}

func TestCatalogueRefusesBadIDsDuplicatesAndUnknownEvidence(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"an Annex A number past its clause", "id: A.8.8\n", "id: A.8.35\n", "clause 8 has controls 8.1 to 8.34"},
		{"a clause Annex A does not have", "id: A.5.1\n", "id: A.9.1\n", "not an Annex A control ID"},
		{"a duplicate control", "id: A.8.9\n", "id: A.8.8\n", "listed twice"},
		{"a mapping to evidence that does not exist", "ref: govulncheck\n", "ref: no-such-evidence\n", `maps evidence "no-such-evidence" that is not defined`},
		{"a HIPAA paragraph outside the scope", "id: 164.312(b)\n", "id: 164.316(b)\n", "not a paragraph"},
		{"a mapping without why", "why: govulncheck checks every Go dependency and the standard library against the Go vulnerability database and reports only vulnerabilities the code reaches.", "why: \" \"", "says no why"},
		{"a field the catalogue does not have", "why: govulncheck checks", "reason: govulncheck checks", "field reason not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(CatalogueSource()), tc.from, tc.to, 1)
			_, err := ParseCatalogue([]byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	for _, id := range []string{"A.5.37", "A.6.8", "A.7.14", "A.8.34"} {
		if err := ValidControlID("iso27001", id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

func TestCompleteEvidenceSatisfiesEveryEvidencedControl(t *testing.T) {
	// GIVEN every evidence file of a passing run
	a := newFixture(t).assess()
	// THEN every piece passed (readiness: not run, its command does not exist yet)
	for _, e := range a.Evidence {
		want := Passed
		if e.ID == "failover-readiness" {
			want = NotRun
		}
		if e.Status != want {
			t.Errorf("%s: %s %v, want %s", e.ID, e.Status, e.Problems, want)
		}
	}
	// AND each control is satisfied unless it needs a human process
	for _, r := range a.Controls {
		want := Satisfied
		if len(a.Catalogue.MappingsOf(r.Control)) == 0 {
			want = NotEvidenced
		}
		if r.Status != want {
			t.Errorf("%s %s: %s (%s), want %s", r.Control.Framework, r.Control.ID, r.Status, r.Reason, want)
		}
	}
}

// changed lists the controls whose status differs between two assessments, as "framework id".
func changed(before, after *Assessment, to ControlStatus) []string {
	b, a := statuses(before), statuses(after)
	var out []string
	for k, s := range a {
		if s != b[k] {
			if s != to {
				out = append(out, k+" -> "+string(s))
				continue
			}
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func wantControls(ids ...string) []string {
	sort.Strings(ids)
	return ids
}

// drillControls are the controls the drill report supports.
var drillControls = []string{"iso27001 A.5.30", "iso27001 A.8.13", "iso27001 A.8.14", "nen7510 5.30", "nen7510 8.13", "nen7510 8.14",
	"hipaa 164.308(a)(7)(i)", "hipaa 164.308(a)(7)(ii)(B)", "hipaa 164.308(a)(7)(ii)(D)", "hipaa 164.312(c)(1)", "gdpr Art. 32"}

func TestAFailingNagFindingFailsExactlyItsControls(t *testing.T) {
	f := newFixture(t)
	before := f.assess()
	// GIVEN a KMS key without rotation on the platform stack (a non-compliant AwsSolutions-KMS5)
	f.writeNag("CaroPlatform-eu-west-1", "AwsSolutions", "\"AwsSolutions-KMS5\",\"CaroPlatform-eu-west-1/DataKey/Resource\",\"Non-Compliant\",\"N/A\",\"Error\",\"rotation\"\n")
	after := f.assess()
	// THEN encryption at rest and the whole-pack baseline fail, naming the finding
	e := after.EvidenceByID("nag-encryption-at-rest")
	if e.Status != Failed || !strings.Contains(strings.Join(e.Problems, " "), "AwsSolutions-KMS5 Non-Compliant on CaroPlatform-eu-west-1/DataKey/Resource") {
		t.Fatalf("nag-encryption-at-rest: %s %v", e.Status, e.Problems)
	}
	// AND exactly the controls they support fail
	got := changed(before, after, ControlFail)
	want := wantControls("iso27001 A.5.23", "iso27001 A.5.34", "iso27001 A.8.9", "iso27001 A.8.24", "iso27001 A.8.25", "iso27001 A.8.27", "iso27001 A.8.32",
		"nen7510 5.23", "nen7510 5.34", "nen7510 8.9", "nen7510 8.24", "nen7510 8.25", "nen7510 8.27", "nen7510 8.32",
		"hipaa 164.312(a)(2)(iv)", "gdpr Art. 25", "gdpr Art. 32")
	if !slices.Equal(got, want) {
		t.Fatalf("changed controls:\n got %v\nwant %v", got, want)
	}
}

func TestAFailedDrillFailsExactlyTheDrillControls(t *testing.T) {
	f := newFixture(t)
	before := f.assess()
	// GIVEN a drill that restored 480 of 500 records
	f.writeJSON(f.in.Drill, drillFixture(false, 3.8))
	after := f.assess()
	got := changed(before, after, ControlFail)
	if want := wantControls(drillControls...); !slices.Equal(got, want) {
		t.Fatalf("changed controls:\n got %v\nwant %v", got, want)
	}
	// AND the reason names the drill's problem
	for _, r := range after.Controls {
		if r.Control.Framework == "iso27001" && r.Control.ID == "A.5.30" && !strings.Contains(r.Reason, "480 of 500 records restored") {
			t.Errorf("A.5.30 reason %q does not name the problem", r.Reason)
		}
	}
	// AND a drill over its RTO target fails the same controls
	f.writeJSON(f.in.Drill, drillFixture(true, 75))
	if got := changed(before, f.assess(), ControlFail); !slices.Equal(got, wantControls(drillControls...)) {
		t.Fatalf("RTO over target: changed %v", got)
	}
}

func TestAStaleDrillMakesExactlyTheDrillControlsStale(t *testing.T) {
	f := newFixture(t)
	before := f.assess()
	// GIVEN the drill report written 40 days ago (its limit is 31)
	old := f.now.Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(f.in.Drill, old, old); err != nil {
		t.Fatal(err)
	}
	after := f.assess()
	// THEN the drill's controls and the ledger rehearsal's (A.8.15) are stale, nothing else
	want := wantControls(append(slices.Clone(drillControls), "iso27001 A.8.15", "nen7510 8.15")...)
	if got := changed(before, after, ControlStale); !slices.Equal(got, want) {
		t.Fatalf("changed controls:\n got %v\nwant %v", got, want)
	}
	if e := after.EvidenceByID("drill"); e.Status != Stale || !strings.Contains(strings.Join(e.Problems, " "), "older than its limit of 31 days") {
		t.Fatalf("drill evidence %s %v", e.Status, e.Problems)
	}
}

func TestAMissingGovulncheckReportFailsExactlyItsControls(t *testing.T) {
	f := newFixture(t)
	before := f.assess()
	// GIVEN no govulncheck report
	if err := os.Remove(f.in.Govulncheck); err != nil {
		t.Fatal(err)
	}
	after := f.assess()
	// THEN a missing input is never a pass: its controls fail, saying which command writes it
	want := wantControls("iso27001 A.8.8", "iso27001 A.8.25", "iso27001 A.8.28", "nen7510 8.8", "nen7510 8.25", "nen7510 8.28", "gdpr Art. 32")
	if got := changed(before, after, ControlFail); !slices.Equal(got, want) {
		t.Fatalf("changed controls:\n got %v\nwant %v", got, want)
	}
	if e := after.EvidenceByID("govulncheck"); e.Status != Missing || !strings.Contains(e.Problems[0], "run make audit-go") {
		t.Fatalf("govulncheck evidence %s %v", e.Status, e.Problems)
	}
	// AND a reachable vulnerability fails the same controls
	f.write(f.in.Govulncheck, govulncheckJSON(true))
	if got := changed(before, f.assess(), ControlFail); !slices.Equal(got, want) {
		t.Fatalf("reachable vulnerability: changed %v", got)
	}
}

func TestFailoverReadinessIsNotRunUntilItsReportExistsThenCounts(t *testing.T) {
	f := newFixture(t)
	before := f.assess()
	if e := before.EvidenceByID("failover-readiness"); e.Status != NotRun {
		t.Fatalf("readiness without a report: %s, want not run", e.Status)
	}
	// GIVEN a readiness report with a blocker THEN the continuity controls fail
	f.writeJSON(f.in.FailoverReadiness, map[string]any{"ok": false, "blockers": []string{"backup older than the RPO target"}})
	want := wantControls("iso27001 A.5.30", "nen7510 5.30", "hipaa 164.308(a)(7)(i)")
	if got := changed(before, f.assess(), ControlFail); !slices.Equal(got, want) {
		t.Fatalf("changed controls:\n got %v\nwant %v", got, want)
	}
	// AND a passing one changes nothing
	f.writeJSON(f.in.FailoverReadiness, map[string]any{"ok": true})
	if got := changed(before, f.assess(), Satisfied); len(got) != 0 {
		t.Fatalf("a passing readiness report changed %v", got)
	}
}

func TestIAMAndHeaderFactsFromTheTemplates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mutate   func(f *fixture)
		evidence string
		problem  string
	}{
		{"on-call role without MFA", func(f *fixture) {
			f.writeJSON(filepath.Join(f.in.CDKOut, "CaroEdge.template.json"), edgeTemplate(false, headers.Security()))
		}, "iam-oncall-mfa", "without aws:MultiFactorAuthPresent true"},
		{"a whole-service grant", func(f *fixture) {
			f.writeJSON(filepath.Join(f.in.CDKOut, "CaroPlatform-eu-west-1.template.json"), platformTemplate("s3:*"))
		}, "iam-least-privilege", `Allow of "s3:*"`},
		{"a header that differs", func(f *fixture) {
			h := headers.Security()
			h.FrameOptions = "SAMEORIGIN"
			f.writeJSON(filepath.Join(f.in.CDKOut, "CaroEdge.template.json"), edgeTemplate(true, h))
		}, "headers-policy", `X-Frame-Options is "SAMEORIGIN", internal/headers says "DENY"`},
		{"a header case of the suite not refused", func(f *fixture) {
			f.writeJSON(f.in.Pentest, pentestResults(f.now, "every response kind carries exactly internal/headers"))
		}, "headers-runner", "attack not refused: every response kind carries exactly internal/headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.mutate(f)
			e := f.assess().EvidenceByID(tc.evidence)
			if e.Status != Failed || !strings.Contains(strings.Join(e.Problems, " | "), tc.problem) {
				t.Fatalf("%s: %s %v, want a problem with %q", tc.evidence, e.Status, e.Problems, tc.problem)
			}
		})
	}
}

// recorder is a ledger that keeps the events given to it (or refuses them).
type recorder struct {
	events []audit.Event
	err    error
}

func (r *recorder) Record(_ context.Context, ev audit.Event) (uint64, error) {
	if r.err != nil {
		return 0, r.err
	}
	if err := ev.Validate(); err != nil {
		return 0, err
	}
	if err := ledger.CheckNoPersonalData(ev); err != nil {
		return 0, err
	}
	r.events = append(r.events, ev)
	return uint64(len(r.events)), nil
}

func runFixture(t *testing.T, f *fixture, rec Recorder) (*Result, error) {
	t.Helper()
	return Run(context.Background(), Options{Inputs: f.in, OutDir: filepath.Join(f.dir, "report"), Tool: "caro test",
		Now: func() time.Time { return f.now }, Ledger: rec, Actor: func(context.Context) string { return "os-user:0123456789abcdef" }})
}

func TestTheOSCALDocumentValidatesAgainstNISTsSchema(t *testing.T) {
	f := newFixture(t)
	f.writeJSON(f.in.Drill, drillFixture(false, 3.8)) // failed controls too
	res, err := runFixture(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(res.OSCALPath)
	if err != nil {
		t.Fatal(err)
	}
	// THEN it validates against the OSCAL 1.1.3 JSON schema (NIST's, embedded in go-oscal)
	if err := ValidateOSCAL(doc); err != nil {
		t.Fatal(err)
	}
	// AND it has one finding per control and one observation per piece of evidence, each file hashed
	var m oscal.OscalCompleteSchema
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	r := m.AssessmentResults.Results[0]
	if len(*r.Findings) != len(res.Assessment.Controls) || len(*r.Observations) != len(res.Assessment.Evidence) {
		t.Fatalf("%d findings, %d observations", len(*r.Findings), len(*r.Observations))
	}
	for _, res := range *m.AssessmentResults.BackMatter.Resources {
		for _, l := range *res.Rlinks {
			if l.Hashes == nil || (*l.Hashes)[0].Algorithm != "SHA-256" || len((*l.Hashes)[0].Value) != 64 {
				t.Errorf("resource %s has no SHA-256", res.Title)
			}
		}
	}
	// AND a broken document does not validate (the check is real)
	broken := bytes.Replace(doc, []byte(`"state": "satisfied"`), []byte(`"state": "fine"`), 1)
	if err := ValidateOSCAL(broken); err == nil {
		t.Fatal("a finding with state \"fine\" validated")
	}
}

func TestTheLedgerEventCarriesTheReportsHash(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	// WHEN the report is written with a ledger
	res, err := runFixture(t, f, rec)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(res.HTMLPath)
	if err != nil {
		t.Fatal(err)
	}
	// THEN one evidence event was appended whose afterHash is the report file's SHA-256
	if len(rec.events) != 1 {
		t.Fatalf("%d events", len(rec.events))
	}
	ev := rec.events[0]
	if ev.AfterHash != SHA256Hex(page) || ev.Interface != audit.InterfaceCLI || ev.Action != EventAction || ev.Actor != "os-user:0123456789abcdef" {
		t.Fatalf("event %+v, report SHA-256 %s", ev, SHA256Hex(page))
	}
	// AND the report names the event and lists every evidence file's and the OSCAL document's SHA-256
	doc, _ := os.ReadFile(res.OSCALPath)
	for _, want := range []string{ev.ID, SHA256Hex(doc)} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the report does not name %s", want)
		}
	}
	for _, e := range res.Assessment.Evidence {
		for _, file := range e.Files {
			copyOf, err := os.ReadFile(filepath.Join(filepath.Dir(res.HTMLPath), EvidenceHref(file)))
			if err != nil || SHA256Hex(copyOf) != file.SHA256 || !bytes.Contains(page, []byte(file.SHA256)) {
				t.Errorf("%s: copy %v, listed %v", file.Path, err, bytes.Contains(page, []byte(file.SHA256)))
			}
		}
	}
}

func TestAFailedAppendIsReportedInTheReport(t *testing.T) {
	f := newFixture(t)
	// GIVEN a ledger that refuses the append
	res, err := runFixture(t, f, &recorder{err: errors.New("ledger held")})
	// THEN the command fails, and the report (kept) says it is not recorded and why
	if err == nil || !strings.Contains(err.Error(), "evidence event not recorded") || res == nil {
		t.Fatalf("err %v", err)
	}
	page, _ := os.ReadFile(res.HTMLPath)
	if !bytes.Contains(page, []byte("Not recorded in the audit ledger")) || !bytes.Contains(page, []byte("ledger held")) || res.Ledger.Recorded {
		t.Fatalf("the report does not say it is not recorded: %+v", res.Ledger)
	}
	// AND without a ledger the report says none is configured
	res, err = runFixture(t, f, nil)
	page, _ = os.ReadFile(res.HTMLPath)
	if err != nil || !bytes.Contains(page, []byte("no audit ledger configured")) {
		t.Fatalf("no ledger: %v", err)
	}
}

func TestReportsOfTheProducingPackagesAreRead(t *testing.T) {
	// GIVEN the reports encoded from the producing packages' own types (fixture) THEN the
	// collectors read their figures, not defaults
	f := newFixture(t)
	a := f.assess()
	for id, want := range map[string]string{
		"drill":         "RTO 3.8 s (target 60 s), RPO 1.2 s, 500/500 records",
		"drill-ledger":  "40/40 ledger entries recovered",
		"backup-verify": "500 documents in 1 collections",
		"audit-verify":  "120 entries (from entry 0) and 3 checkpoints verified",
		"pentest":       "4 attacks refused, 0 not refused, 1 skipped, against http://127.0.0.1:41234",
		"govulncheck":   "0 reachable vulnerabilities, 1 in dependencies but not reached",
	} {
		if e := a.EvidenceByID(id); !strings.Contains(e.Summary, want) {
			t.Errorf("%s summary %q, want %q", id, e.Summary, want)
		}
	}
	if e := a.EvidenceByID("drill"); len(e.Steps) != 7 || e.Steps[2].Name != "restore" {
		t.Errorf("drill steps %+v", e.Steps)
	}
	// AND a file that is not the report named fails, never passes
	f.write(f.in.BackupVerify, []byte(`{"hello": "world"}`))
	if e := f.assess().EvidenceByID("backup-verify"); e.Status != Failed {
		t.Errorf("a foreign file as backup verify: %s", e.Status)
	}
}
