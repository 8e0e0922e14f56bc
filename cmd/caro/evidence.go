package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/evidence"
	"github.com/carohealth/platform/internal/ledger"
)

func init() { registerCommand(newEvidenceCmd) }

func newEvidenceCmd(streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Compliance evidence: assess ISO 27001, NEN 7510, HIPAA and GDPR controls",
		Example: `  caro evidence assess
  caro evidence assess --dir evidence/ -o json`,
	}
	cmd.AddCommand(newEvidenceAssessCmd(streams))
	return cmd
}

// exitControlsFailed is the exit status when at least one control failed (1 stays "could not run").
const exitControlsFailed = 2

type evidenceOptions struct {
	dir, cdkOut, out string
	inputs           evidence.Inputs
	ledgerURI        string
	ledgerDatabase   string
	output           string
	now              func() time.Time
}

func newEvidenceAssessCmd(streams IOStreams) *cobra.Command {
	o := &evidenceOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:   "assess [--dir DIR] [--cdk-out DIR] [--mongodb-uri URI] [-o json]",
		Short: "Assess ISO 27001, NEN 7510, HIPAA and GDPR controls from the evidence files of earlier runs; write OSCAL and HTML",
		Long: `Reads the files earlier runs wrote (never re-running a check): cdk-nag's CSV reports, the template
check and the synthesized templates in --cdk-out (make synth), govulncheck's JSON (make audit-go), the
attack suite's results (make pentest), the drill report (caro failover drill -o json), caro backup verify's and
caro audit verify's reports (-o json) and caro failover readiness's (when it exists). Each piece is
mapped to the controls of the catalogue (internal/evidence/catalogue.yaml) and each control gets a
status: satisfied, failed (naming the evidence), stale (older than the evidence's limit) or not
evidenced by this toolkit (naming the human process). A missing input is never a pass.

Writes, into --out: assessment-results.json (OSCAL 1.1.3, validated against NIST's schema),
report.html (self-contained: summary per framework, a table per control, the drill's per-step chart,
finding counts) and evidence/ (each evidence file under its SHA-256). With --mongodb-uri the
report's SHA-256 is appended to the audit ledger as one evidence event (caro audit prove <event-id>
shows later that the report existed unchanged); without it the report says it is not recorded.

Exit status: 0 no control failed, 2 a control failed, 1 the assessment could not run.`,
		Example: `  # after make synth, make audit-go, make pentest and caro failover drill -o json > .cache/evidence/drill.json
  caro evidence assess
  caro evidence assess --dir evidence/ --out evidence/report -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context(), streams)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", ".cache/evidence", "folder of the evidence files (the default name of each input below is in it)")
	f.StringVar(&o.cdkOut, "cdk-out", "cdk.out", "cloud assembly of make synth (nag reports, template-check.json, templates)")
	f.StringVar(&o.out, "out", "", "folder for the report (default <dir>/report)")
	f.StringVar(&o.inputs.Govulncheck, "govulncheck", "", "govulncheck JSON (default <dir>/"+evidence.GovulncheckFile+")")
	f.StringVar(&o.inputs.Pentest, "pentest", "", "attack suite results (default <dir>/"+evidence.PentestFile+")")
	f.StringVar(&o.inputs.Drill, "drill", "", "caro failover drill -o json report (default <dir>/"+evidence.DrillFile+")")
	f.StringVar(&o.inputs.BackupVerify, "backup-verify", "", "caro backup verify -o json report (default <dir>/"+evidence.BackupVerifyFile+")")
	f.StringVar(&o.inputs.AuditVerify, "audit-verify", "", "caro audit verify -o json report (default <dir>/"+evidence.AuditVerifyFile+")")
	f.StringVar(&o.inputs.FailoverReadiness, "failover-readiness", "", "caro failover readiness -o json report (default <dir>/"+evidence.FailoverReadinessFile+")")
	f.DurationVar(&o.inputs.DrillRTOTarget, "drill-rto-target", evidence.DefaultDrillRTOTarget, "longest drill RTO that passes")
	f.StringVar(&o.ledgerURI, "mongodb-uri", "", "connection string of the database whose audit ledger records the report (only this flag: without it the report is not recorded)")
	f.StringVar(&o.ledgerDatabase, "database", "caro", "database of the audit ledger")
	f.StringVarP(&o.output, "output", "o", "text", "summary format: text or json")
	return cmd
}

func (o *evidenceOptions) validate() error {
	switch {
	case o.output != "text" && o.output != "json":
		return fmt.Errorf("invalid --output %q: use text or json", o.output)
	case o.dir == "":
		return fmt.Errorf("empty --dir: give the folder of the evidence files (default .cache/evidence)")
	case o.inputs.DrillRTOTarget <= 0:
		return fmt.Errorf("invalid --drill-rto-target %s: give a positive duration like 60s", o.inputs.DrillRTOTarget)
	case o.ledgerURI != "" && o.ledgerDatabase == "":
		return fmt.Errorf("empty --database: name the audit ledger's database (default caro)")
	}
	if o.out == "" {
		o.out = filepath.Join(o.dir, "report")
	}
	o.inputs = evidence.DefaultInputs(o.inputs, o.dir, o.cdkOut)
	return nil
}

func (o *evidenceOptions) run(ctx context.Context, streams IOStreams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	opts := evidence.Options{Inputs: o.inputs, OutDir: o.out, Tool: "caro " + version, Now: o.now, Progress: streams.ErrOut,
		NoLedgerReason: "no audit ledger configured (--mongodb-uri not given), as in the local demo",
		Actor:          func(ctx context.Context) string { return operatorIdentity(ctx, "") }}
	if o.ledgerURI != "" {
		rec, closeLedger, err := openEvidenceLedger(o.ledgerURI, o.ledgerDatabase)
		if err != nil {
			return err
		}
		defer closeLedger()
		opts.Ledger = rec
	}
	res, err := evidence.Run(ctx, opts)
	if res == nil {
		return err
	}
	sum := evidence.Summarize(res)
	if o.output == "json" {
		if werr := writeJSON(streams.Out, sum); werr != nil {
			return werr
		}
	} else {
		printEvidenceSummary(streams.Out, sum)
	}
	if err != nil {
		return err
	}
	if !sum.OK {
		return &exitError{code: exitControlsFailed, err: fmt.Errorf("%d controls failed: see %s", len(sum.Failed), res.HTMLPath)}
	}
	return nil
}

// ledgerRecorder appends the evidence event through the ledger's Append.
type ledgerRecorder struct{ l *ledger.Ledger }

func (r ledgerRecorder) Record(ctx context.Context, ev audit.Event) (uint64, error) {
	e, _, err := r.l.Append(ctx, ev)
	return e.Seq, err
}

func openEvidenceLedger(uri, database string) (evidence.Recorder, func(), error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(15 * time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("audit ledger at %s: %w: check --mongodb-uri", redactURI(uri), err)
	}
	closeFn := func() { _ = client.Disconnect(context.Background()) }
	return ledgerRecorder{l: &ledger.Ledger{Store: ledger.NewMongoStore(client.Database(database))}}, closeFn, nil
}

func printEvidenceSummary(w io.Writer, s evidence.Summary) {
	fmt.Fprintf(w, "Report: %s (SHA-256 %s)\nOSCAL:  %s\n", s.Report, s.ReportSHA, s.OSCAL)
	if s.Ledger.Recorded {
		fmt.Fprintf(w, "Audit ledger: evidence event %s (entry %d); prove it with: caro audit prove %s\n", s.Ledger.EventID, s.Ledger.Seq, s.Ledger.EventID)
	} else {
		fmt.Fprintf(w, "Audit ledger: not recorded: %s\n", s.Ledger.Reason)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nFRAMEWORK\tSATISFIED\tFAILED\tSTALE\tNOT EVIDENCED\tTOTAL")
	for _, f := range s.Frameworks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", f.Title, f.Satisfied, f.Failed, f.Stale, f.NotEvidenced, f.Total)
	}
	tw.Flush()
	for _, group := range []struct {
		name  string
		lines []evidence.ControlLine
	}{{"Failed", s.Failed}, {"Stale", s.Stale}} {
		if len(group.lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", group.name)
		for _, l := range group.lines {
			fmt.Fprintf(w, "  %s %s %s: %s\n", l.Framework, l.Control, l.Title, strings.Join(l.Evidence, ", "))
		}
	}
	header := false
	for _, e := range s.Evidence {
		if e.Status == evidence.Passed || len(e.Problems) == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "\nEvidence not passed:")
			header = true
		}
		fmt.Fprintf(w, "  %s %s: %s\n", e.ID, e.Status, strings.Join(e.Problems, "; "))
	}
	fmt.Fprintf(w, "\nAssessed in %.2f s\n", s.Seconds)
}
