package templatecheck

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carohealth/platform/constructs/gofunction"
)

// root is the repository, whose node_modules holds the validator (make test installs it first).
var root = gofunction.RepoRoot()

func startValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := Start(root, os.Stderr)
	if err != nil {
		t.Fatalf("%v (make test runs npm ci before the Go tests)", err)
	}
	t.Cleanup(v.Close)
	return v
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateReportsWhatCloudFormationWouldReject(t *testing.T) {
	// GIVEN a template with a dangling GetAtt, an unknown and a malformed bucket property and a
	// retired Lambda runtime
	v := startValidator(t)
	// WHEN it is validated
	findings, err := v.Validate([]Template{{Stack: "Broken", Path: testdata(t, "rejected.template.json"), Region: "eu-west-1"}})
	// THEN each problem is a blocking finding that names the stack, the resource and the rule
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range findings {
		got[f.RuleID+" "+f.LogicalID] = f
	}
	for _, want := range []string{"F1020 Handler", "F3002 Bucket", "F3031 Bucket", "E2533 Handler"} {
		f, ok := got[want]
		if !ok {
			t.Errorf("no finding %q in %v", want, findings)
			continue
		}
		if !f.Blocking() || f.Stack != "Broken" || f.Message == "" {
			t.Errorf("finding %q = %+v, want a blocking finding of stack Broken with a message", want, f)
		}
	}
	if f := got["F3002 Bucket"]; f.PropertyPath != "Properties.Versioned" {
		t.Errorf("F3002 property path = %q, want Properties.Versioned", f.PropertyPath)
	}
}

func TestValidateFindsNothingInACleanTemplate(t *testing.T) {
	// GIVEN a valid template WHEN it is validated THEN there are no findings
	v := startValidator(t)
	findings, err := v.Validate([]Template{{Stack: "Clean", Path: testdata(t, "clean.template.json"), Region: "eu-west-1"}})
	if err != nil || len(findings) != 0 {
		t.Fatalf("Validate = %v, %v; want no findings", findings, err)
	}
}

func TestValidateFailsRatherThanPassAnUncheckedTemplate(t *testing.T) {
	// GIVEN a template path that does not exist, beside a clean one
	v := startValidator(t)
	// WHEN they are validated
	findings, err := v.Validate([]Template{
		{Stack: "Clean", Path: testdata(t, "clean.template.json")},
		{Stack: "Gone", Path: filepath.Join(t.TempDir(), "missing.template.json")},
	})
	// THEN the check fails with the validator's reason instead of reporting no findings
	if err == nil || !strings.Contains(err.Error(), "missing.template.json") {
		t.Fatalf("Validate = %v, %v; want an error naming the missing template", findings, err)
	}
}

func TestStartRefusesAMissingOrDifferentValidator(t *testing.T) {
	// GIVEN a folder without node_modules WHEN the validator is started THEN the error says what to run
	if _, err := Start(t.TempDir(), os.Stderr); err == nil || !strings.Contains(err.Error(), "npm ci") || !strings.Contains(err.Error(), ValidatorPackage) {
		t.Fatalf("Start without the validator = %v, want an error naming %s and npm ci", err, ValidatorPackage)
	}
	// GIVEN another version installed THEN the error names both versions
	other := t.TempDir()
	pkg := filepath.Join(other, "node_modules", filepath.FromSlash(ValidatorPackage))
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"version":"1.6.0-beta"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(other, os.Stderr); err == nil || !strings.Contains(err.Error(), "1.6.0-beta") || !strings.Contains(err.Error(), ValidatorVersion) {
		t.Fatalf("Start with another version = %v, want an error naming 1.6.0-beta and %s", err, ValidatorVersion)
	}
}

func TestAssemblyTemplatesReadsTheManifest(t *testing.T) {
	// GIVEN a cloud assembly with an environment-agnostic stack, a pinned one and a nested assembly
	dir := t.TempDir()
	write := func(path, content string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "manifest.json"), `{"artifacts": {
		"Edge": {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/us-east-1", "properties": {"templateFile": "Edge.template.json"}},
		"Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
		"Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}}}`)
	write(filepath.Join(dir, "assembly-Prod", "manifest.json"), `{"artifacts": {
		"ProdApi": {"type": "aws:cloudformation:stack", "environment": "aws://123456789012/eu-west-1", "properties": {"templateFile": "ProdApi.template.json"}}}}`)
	// WHEN its templates are listed
	got, err := AssemblyTemplates(dir)
	// THEN both stacks come back with their template paths and known environments
	if err != nil {
		t.Fatal(err)
	}
	want := []Template{
		{Stack: "Edge", Path: filepath.Join(dir, "Edge.template.json"), Region: "us-east-1"},
		{Stack: "ProdApi", Path: filepath.Join(dir, "assembly-Prod", "ProdApi.template.json"), Region: "eu-west-1", Account: "123456789012"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("AssemblyTemplates = %+v, want %+v", got, want)
	}
	if _, err := AssemblyTemplates(t.TempDir()); err == nil {
		t.Fatal("AssemblyTemplates of a folder without a manifest: no error")
	}
}

func TestSummary(t *testing.T) {
	warning := Finding{Stack: "Api", RuleID: "W3010", Severity: "WARN", Message: "hard-coded AZ", LogicalID: "Subnet"}
	failure := Finding{Stack: "Api", RuleID: "F3002", Severity: "FATAL", Message: "unexpected property", LogicalID: "Bucket", PropertyPath: "Properties.Versioned", Fix: "remove it"}
	if got := Summary(5, nil); got != "template check: 5 template(s) valid\n" {
		t.Errorf("Summary(5, nil) = %q", got)
	}
	if got := Summary(2, []Finding{warning}); !strings.Contains(got, "template check: Api Subnet: WARN W3010: hard-coded AZ\n") || !strings.Contains(got, "2 template(s), 1 warning(s), no errors") {
		t.Errorf("Summary(warning) = %q", got)
	}
	got := Summary(2, []Finding{failure, warning})
	if !strings.Contains(got, "template check: Api Bucket Properties.Versioned: FATAL F3002: unexpected property (remove it)\n") || !strings.Contains(got, "1 error(s)") {
		t.Errorf("Summary(failure, warning) = %q", got)
	}
}

func TestValidateReportsAValidatorThatCannotStart(t *testing.T) {
	// GIVEN an installation of the pinned version whose code fails to load
	broken := t.TempDir()
	pkg := filepath.Join(broken, "node_modules", filepath.FromSlash(ValidatorPackage))
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"package.json": `{"version":"` + ValidatorVersion + `","main":"index.js"}`,
		"index.js":     `throw new Error("broken install");`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v, err := Start(broken, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// WHEN templates are sent THEN the check fails with the validator's own reason
	findings, err := v.Validate([]Template{{Stack: "Clean", Path: testdata(t, "clean.template.json")}})
	if err == nil || !strings.Contains(err.Error(), "broken install") {
		t.Fatalf("Validate = %v, %v; want the loader's error", findings, err)
	}
}

func TestValidatorVersionIsThePinnedOne(t *testing.T) {
	// package.json and its lock pin the validator this package expects (Start refuses any other).
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	for name, into := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if got := pkg.DevDependencies[ValidatorPackage]; got != ValidatorVersion {
		t.Errorf("package.json pins %s %q, want %s", ValidatorPackage, got, ValidatorVersion)
	}
	if got := lock.Packages["node_modules/"+ValidatorPackage].Version; got != ValidatorVersion {
		t.Errorf("package-lock.json locks %s %q, want %s", ValidatorPackage, got, ValidatorVersion)
	}
}

func TestExclusionsFollowCDK(t *testing.T) {
	// Excluded and ValidatorVersion were copied from aws-cdk-lib 2.270.0 (its
	// CloudFormationValidatePlugin and bundled validator). On an upgrade of aws-cdk-go, compare them
	// with the new version's, then update this pin.
	raw, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/aws/aws-cdk-go/awscdk/v2 (v\S+)`).FindSubmatch(raw)
	if m == nil || string(m[1]) != "v2.270.0" {
		t.Fatalf("go.mod has aws-cdk-go %q; templatecheck's exclusions and validator version follow v2.270.0: re-check them against the new aws-cdk-lib", m)
	}
}

func TestMainChecksTheTemplatesBesideTheApp(t *testing.T) {
	// GIVEN a one-stack CDK app that synthesizes through Main
	app := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", app, "./testdata/app")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test app: %v\n%s", err, out)
	}
	run := func(reject bool) (string, Report, error) {
		out := t.TempDir()
		cmd := exec.Command(app)
		// Without CDK_VALIDATION (make test sets it for the Go tests): Main must switch it off itself.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, cdkValidation+"=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "CDK_OUTDIR="+out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
		if reject {
			cmd.Env = append(cmd.Env, "TEMPLATECHECK_REJECT=1")
		}
		stderr, err := cmd.CombinedOutput()
		if _, statErr := os.Stat(filepath.Join(out, "validation-report.json")); statErr == nil {
			t.Errorf("CDK validated in-process as well (validation-report.json written): Main must switch it off")
		}
		var report Report
		raw, readErr := os.ReadFile(filepath.Join(out, ReportFile))
		if readErr != nil {
			t.Fatalf("no %s in the cloud assembly: %v\n%s", ReportFile, readErr, stderr)
		}
		if err := json.Unmarshal(raw, &report); err != nil {
			t.Fatal(err)
		}
		return string(stderr), report, err
	}
	// WHEN its templates are clean THEN the run succeeds and records the check of its stack
	stderr, report, err := run(false)
	if err != nil || len(report.Findings) != 0 || len(report.Stacks) != 1 || report.Stacks[0] != "Checked" {
		t.Fatalf("clean app: %v, report %+v\n%s", err, report, stderr)
	}
	// WHEN a template holds a property CloudFormation rejects THEN the run fails and says where and why
	stderr, report, err = run(true)
	if err == nil {
		t.Fatalf("app with a rejected template exited 0\n%s", stderr)
	}
	if !strings.Contains(stderr, "Checked Rejected Properties.Versioned: FATAL F3002") || !strings.Contains(stderr, "fix them before deploying") {
		t.Errorf("stderr does not name the finding and what to do:\n%s", stderr)
	}
	if len(report.Findings) == 0 || report.Findings[0].RuleID != "F3002" {
		t.Errorf("report findings = %+v, want F3002 first", report.Findings)
	}
}
