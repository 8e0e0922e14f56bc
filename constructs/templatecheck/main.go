package templatecheck

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/internal/config"
)

// ReportFile is the file in the cloud assembly that records what the check found (kept by the
// pipeline's synth artifact as audit evidence beside cdk-nag's reports).
const ReportFile = "template-check.json"

// cdkValidation is the environment variable that switches CDK's in-process validation off ("false"):
// this check replaces it.
const cdkValidation = "CDK_VALIDATION"

// Main runs a CDK app held to the template check and returns its exit code. It starts the validator,
// builds the app with build, synthesizes it, ends the app's Node process and waits for the
// validator's findings. Errors in a template fail the run; so does a validator that is missing or
// stops without an answer, since an unchecked template must not pass as a checked one.
func Main(build func(app awscdk.App) error, stderr io.Writer) int {
	if v, _ := config.LookupEnv(cdkValidation); v != "false" {
		return restartWithoutInProcessValidation(stderr)
	}
	v, err := Start(gofunction.RepoRoot(), stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer v.Close()
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if err := build(app); err != nil {
		fmt.Fprintln(stderr, "cdk:", err)
		return 1
	}
	dir := *app.Synth(nil).Directory()
	// The app's Node process is done: free its memory before the validator's peaks.
	jsii.Close()
	templates, err := AssemblyTemplates(dir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	findings, err := v.Validate(templates)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := WriteReport(dir, templates, findings); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stderr, Summary(len(templates), findings))
	for _, f := range findings {
		if f.Blocking() {
			return 1
		}
	}
	return 0
}

// restartWithoutInProcessValidation runs this program again with CDK's own validation off. jsii fixes
// the environment of the app's Node process while Go initialises the packages, before main runs, so
// setting the variable now would come too late; the process is not started yet, so nothing is lost
// but the runtime jsii unpacked, which Close removes.
func restartWithoutInProcessValidation(stderr io.Writer) int {
	exe, err := os.Executable()
	if err == nil {
		jsii.Close()
		err = syscall.Exec(exe, os.Args, append(os.Environ(), cdkValidation+"=false"))
	}
	fmt.Fprintf(stderr, "template check: restarting the app with CDK's in-process validation off (%s=false): %v\n", cdkValidation, err)
	return 1
}

// manifest is the part of a cloud assembly's manifest.json this package reads.
type manifest struct {
	Artifacts map[string]struct {
		Type        string `json:"type"`
		Environment string `json:"environment"` // aws://<account>/<region>
		Properties  struct {
			TemplateFile  string `json:"templateFile"`
			DirectoryName string `json:"directoryName"` // of a nested assembly (a Stage)
		} `json:"properties"`
	} `json:"artifacts"`
}

// AssemblyTemplates lists the stack templates of the cloud assembly in dir, nested assemblies (CDK
// Stages) included, sorted by stack. Read from the manifest on disk rather than through jsii: the
// app's Node process may already be gone.
func AssemblyTemplates(dir string) ([]Template, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("template check: reading the cloud assembly: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("template check: %s/manifest.json: %w", dir, err)
	}
	var out []Template
	for name, a := range m.Artifacts {
		switch a.Type {
		case "aws:cloudformation:stack":
			t := Template{Stack: name, Path: filepath.Join(dir, a.Properties.TemplateFile)}
			account, region, _ := strings.Cut(strings.TrimPrefix(a.Environment, "aws://"), "/")
			if account != "unknown-account" {
				t.Account = account
			}
			if region != "unknown-region" {
				t.Region = region
			}
			out = append(out, t)
		case "cdk:cloud-assembly":
			nested, err := AssemblyTemplates(filepath.Join(dir, a.Properties.DirectoryName))
			if err != nil {
				return nil, err
			}
			out = append(out, nested...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stack < out[j].Stack })
	return out, nil
}

// Report is the content of ReportFile.
type Report struct {
	Validator string     `json:"validator"`
	Engine    string     `json:"engine"`
	Excluded  Exclusions `json:"excluded"`
	Stacks    []string   `json:"stacks"`
	Findings  []Finding  `json:"findings"`
}

// WriteReport records the check's findings in the cloud assembly in dir.
func WriteReport(dir string, templates []Template, findings []Finding) error {
	r := Report{Validator: ValidatorPackage + "@" + ValidatorVersion, Engine: "rego", Excluded: Excluded, Findings: findings}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, t := range templates {
		r.Stacks = append(r.Stacks, t.Stack)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("template check: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("template check: writing the report: %w", err)
	}
	return nil
}
