package nagcheck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthWithContext synthesizes a one-queue stack checked by Apply into a temporary cloud assembly
// and returns the assembly's directory.
func synthWithContext(t *testing.T, context map[string]any) string {
	t.Helper()
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &context})
	stack := awscdk.NewStack(app, jsii.String("Nag"), nil)
	awssqs.NewQueue(stack, jsii.String("Queue"), &awssqs.QueueProps{EnforceSSL: jsii.Bool(true)})
	nagcheck.Apply(app)
	app.Synth(nil)
	return out
}

func reportsIn(t *testing.T, dir string) []string {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(dir, "*-NagReport.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestReportsOnRequest: the CSV evidence is written for every pack when the nagReports context
// asks for it (make synth, the pipeline), and not otherwise; the checks run either way.
func TestReportsOnRequest(t *testing.T) {
	// GIVEN an app asking for reports, WHEN it synthesizes, THEN each pack wrote its report.
	for _, v := range []any{"true", true} {
		got := reportsIn(t, synthWithContext(t, map[string]any{nagcheck.ReportsContext: v}))
		want := map[string]bool{"AwsSolutions-Nag-NagReport.csv": false, "HIPAA.Security-Nag-NagReport.csv": false}
		for _, f := range got {
			want[filepath.Base(f)] = true
		}
		for name, ok := range want {
			if !ok {
				t.Errorf("context %v: %s not written (got %v)", v, name, got)
			}
		}
	}
	// GIVEN an app that does not ask, THEN no report is written.
	if got := reportsIn(t, synthWithContext(t, nil)); len(got) != 0 {
		t.Errorf("reports written without being asked for: %v", got)
	}
}
