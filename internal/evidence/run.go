package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/carohealth/platform/internal/audit"
)

// Names of the files Run writes into the output folder.
const (
	ReportFile   = "report.html"
	OSCALFile    = "assessment-results.json"
	EvidenceDir  = "evidence"
	EventAction  = "evidence:report"
	EventResType = "evidence-report"
)

// Recorder appends the evidence event to the audit ledger (cmd/caro adapts the ledger's Append).
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (seq uint64, err error)
}

// Options configure one run of Run.
type Options struct {
	Inputs Inputs
	// OutDir receives report.html, assessment-results.json and evidence/ (the content-addressed
	// copies of every evidence file).
	OutDir string
	// Tool names the toolkit and version in the report.
	Tool string
	// Now is the clock (tests pin it).
	Now func() time.Time
	// Ledger, when set, receives the evidence event; NoLedgerReason says in the report why there
	// is none when it is nil.
	Ledger         Recorder
	NoLedgerReason string
	// Actor returns who runs the command, for the event (asked only when Ledger is set).
	Actor func(ctx context.Context) string
	// Progress receives progress lines (nil: discarded).
	Progress io.Writer
}

// Result is what Run wrote and found.
type Result struct {
	Assessment  *Assessment
	HTMLPath    string
	HTMLSHA256  string
	OSCALPath   string
	OSCALSHA256 string
	Ledger      LedgerStatus
	// Event is the evidence event appended (nil when none).
	Event   *audit.Event
	Seconds float64
}

// Run collects, assesses, writes the OSCAL document, the HTML report and the evidence copies into
// OutDir, and appends the evidence event (the HTML report's SHA-256 as afterHash; the report lists
// every evidence file's and the OSCAL document's SHA-256) to the ledger. When the append fails the
// report is rewritten to say it is not recorded, and the error is returned with the result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	start := time.Now()
	cat, err := DefaultCatalogue()
	if err != nil {
		return nil, err
	}
	now := o.Now().UTC()
	a := Assess(cat, Collect(cat, o.Inputs), now)
	fmt.Fprintf(o.Progress, "evidence: %d pieces read, %d controls assessed\n", len(a.Evidence), len(a.Controls))
	if err := writeEvidenceCopies(o.OutDir, a.Evidence); err != nil {
		return nil, err
	}
	res := &Result{Assessment: a, HTMLPath: filepath.Join(o.OutDir, ReportFile), OSCALPath: filepath.Join(o.OutDir, OSCALFile)}
	meta := ReportMeta{RunID: uuid.NewString(), Tool: o.Tool, EvidenceHref: EvidenceHref}
	if meta.Tool == "" {
		meta.Tool = "caro"
	}
	meta.Ledger = LedgerStatus{Reason: o.NoLedgerReason}
	if o.Ledger != nil {
		meta.Ledger = LedgerStatus{Recorded: true, EventID: audit.NewEventID()}
	} else if meta.Ledger.Reason == "" {
		meta.Ledger.Reason = "no audit ledger configured"
	}
	meta.Seconds = time.Since(start).Seconds()
	if err := res.write(a, meta); err != nil {
		return nil, err
	}
	if o.Ledger != nil {
		ev := audit.Event{ID: meta.Ledger.EventID, Time: now, Actor: o.actor(ctx), TenantID: audit.PlatformTenant,
			Action: EventAction, ResourceType: EventResType, ResourceID: meta.RunID, Interface: audit.InterfaceCLI,
			RequestID: audit.NewEventID(), AfterHash: res.HTMLSHA256}
		seq, err := o.Ledger.Record(ctx, ev)
		if err != nil {
			meta.Ledger = LedgerStatus{Reason: fmt.Sprintf("appending evidence event %s to the ledger failed (%v)", ev.ID, err)}
			if werr := res.write(a, meta); werr != nil {
				err = errors.Join(err, werr)
			}
			res.Ledger, res.Seconds = meta.Ledger, time.Since(start).Seconds()
			return res, fmt.Errorf("evidence event not recorded: %w: the report at %s says so; check the ledger's database and re-run caro evidence assess", err, res.HTMLPath)
		}
		res.Event = &ev
		meta.Ledger.Seq = seq
	}
	res.Ledger, res.Seconds = meta.Ledger, time.Since(start).Seconds()
	return res, nil
}

func (o Options) actor(ctx context.Context) string {
	if o.Actor != nil {
		if a := o.Actor(ctx); a != "" {
			return a
		}
	}
	return "unknown-operator"
}

// EvidenceHref is the link, relative to the report, of an evidence file's copy: named by its SHA-256
// (and the original extension, so a browser shows it as what it is).
func EvidenceHref(f File) string { return EvidenceDir + "/" + f.SHA256 + filepath.Ext(f.Path) }

// write renders and writes the OSCAL document, then the HTML report that names its hash.
func (r *Result) write(a *Assessment, meta ReportMeta) error {
	doc, err := MarshalOSCAL(OSCAL(a, meta))
	if err != nil {
		return fmt.Errorf("rendering the OSCAL document: %w", err)
	}
	if err := ValidateOSCAL(doc); err != nil {
		return err
	}
	page, err := RenderHTML(a, HTMLMeta{ReportMeta: meta, OSCALFile: OSCALFile, OSCALSHA256: SHA256Hex(doc)})
	if err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	if err := writeAtomic(r.OSCALPath, doc); err != nil {
		return err
	}
	if err := writeAtomic(r.HTMLPath, page); err != nil {
		return err
	}
	r.OSCALSHA256, r.HTMLSHA256 = SHA256Hex(doc), SHA256Hex(page)
	return nil
}

// writeEvidenceCopies keeps every evidence file under evidence/<sha256> beside the report, so the
// report folder is complete and each link proves its content.
func writeEvidenceCopies(dir string, evs []Evidence) error {
	if err := os.MkdirAll(filepath.Join(dir, EvidenceDir), 0o755); err != nil {
		return fmt.Errorf("creating the report folder: %w", err)
	}
	for _, e := range evs {
		for _, f := range e.Files {
			p := filepath.Join(dir, filepath.FromSlash(EvidenceHref(f)))
			if _, err := os.Stat(p); err == nil {
				continue
			}
			if err := writeAtomic(p, f.data); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAtomic writes b to path through a temporary file renamed into place, so a reader never sees
// half a report.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
