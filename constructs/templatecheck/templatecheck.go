// Package templatecheck validates the synthesized CloudFormation templates with the validator CDK 2.270
// runs inside every synth (@aws/cloudformation-validate, its Rego engine, with CDK's exclusions), but in
// a Node process of its own that starts with the app. Building the validator's rule engine takes
// about 2.5 s of CPU; here it happens on the second core while the app constructs its stacks, instead
// of after them on the app's one Node thread, which halves a whole-app synth (make bench-synth). A
// template the validator finds an error in (one CloudFormation would reject at deploy) fails the
// synth, where CDK would only warn; warnings are printed; every run records its findings in the cloud
// assembly (ReportFile).
//
// The validator comes from node_modules (npm ci, which make runs, installs the version package.json
// pins); without it the app stops and says what to run. CDK's one Rego rule of its own (GameLift
// fleets) is not loaded: our stacks declare no GameLift resource (cdk TestStacksDeclareOnlyManagedServices).
package templatecheck

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ValidatorPackage is the npm package that validates, and ValidatorVersion the version package.json
// pins: the one aws-cdk-lib 2.270.0 bundles for its own in-process validation.
const (
	ValidatorPackage = "@aws/cloudformation-validate"
	ValidatorVersion = "1.9.0-beta"
)

// nodeFlags run the validator without V8's helper threads (background compilation and GC). The
// validator's work is one long WebAssembly computation on one thread; on the two cores the app has,
// those helpers would compete with the app's own two processes and made the validator's start-up
// take about twice as long (make bench-synth).
var nodeFlags = []string{"--single-threaded"}

// Excluded are the rules CDK 2.270.0's CloudFormationValidatePlugin switches off, copied so that this
// check finds what CDK's would (TestExclusionsFollowCDK pins the CDK version they were copied from).
var Excluded = Exclusions{
	IDs:      []string{"W3005", "W1020", "E1018", "W9002", "W9013", "E2001", "W1103"},
	Services: []ServiceExclusion{{RuleID: "W3697", Service: "AWS::AutoScaling"}},
}

// Exclusions are rules the validator skips, in its own configuration format.
type Exclusions struct {
	IDs      []string           `json:"ids"`
	Services []ServiceExclusion `json:"services"`
}

// ServiceExclusion skips one rule for one AWS service's resource types.
type ServiceExclusion struct {
	RuleID  string `json:"ruleId"`
	Service string `json:"service"`
}

//go:embed worker.js
var workerSource string

// Template is one synthesized stack template to validate.
type Template struct {
	Stack string `json:"stack"`
	Path  string `json:"path"`
	// Region and Account resolve the pseudo parameters; empty when the stack does not pin them.
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`
}

// Finding is one diagnostic of the validator.
type Finding struct {
	Stack        string `json:"stack"`
	RuleID       string `json:"ruleId"`
	Severity     string `json:"severity"` // WARN, ERROR or FATAL
	Message      string `json:"message"`
	LogicalID    string `json:"logicalId,omitempty"`
	PropertyPath string `json:"propertyPath,omitempty"`
	Fix          string `json:"fix,omitempty"`
}

// Blocking reports whether the finding fails the synth: an error CloudFormation would reject the
// template for, rather than a warning.
func (f Finding) Blocking() bool { return f.Severity == "ERROR" || f.Severity == "FATAL" }

// String renders the finding on one line, naming where it is and what to do.
func (f Finding) String() string {
	where := f.Stack
	if f.LogicalID != "" {
		where += " " + f.LogicalID
	}
	if f.PropertyPath != "" {
		where += " " + f.PropertyPath
	}
	s := fmt.Sprintf("%s: %s %s: %s", where, f.Severity, f.RuleID, f.Message)
	if f.Fix != "" {
		s += " (" + f.Fix + ")"
	}
	return s
}

// Validator is a running validator process, its engine being built from the moment it starts.
type Validator struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// Start launches the validator installed under root/node_modules; its own messages (a crash) go to
// stderr. It returns an error, and starts nothing, when node or the pinned validator is missing.
func Start(root string, stderr io.Writer) (*Validator, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("template check: node is not on PATH: %w", err)
	}
	module := filepath.Join(root, "node_modules", filepath.FromSlash(ValidatorPackage))
	if err := checkInstalled(module); err != nil {
		return nil, err
	}
	cmd := exec.Command(node, append(nodeFlags, "-e", workerSource, module)...)
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("template check: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("template check: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("template check: starting node: %w", err)
	}
	return &Validator{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}, nil
}

// checkInstalled refuses a missing or differently versioned validator: findings must not change
// with whatever happens to be installed.
func checkInstalled(module string) error {
	raw, err := os.ReadFile(filepath.Join(module, "package.json"))
	if err != nil {
		return fmt.Errorf("template check: %s is not installed in %s: run `npm ci` in the repository (make does)", ValidatorPackage, filepath.Dir(filepath.Dir(module)))
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version != ValidatorVersion {
		return fmt.Errorf("template check: %s in %s is version %q, package.json pins %s: run `npm ci` in the repository", ValidatorPackage, module, pkg.Version, ValidatorVersion)
	}
	return nil
}

// Validate validates the templates, waits for the answer and ends the process. Findings come sorted
// by stack, then severity (errors first), then rule.
func (v *Validator) Validate(templates []Template) ([]Finding, error) {
	defer v.Close()
	request, err := json.Marshal(struct {
		Exclude   Exclusions `json:"exclude"`
		Templates []Template `json:"templates"`
	}{Excluded, templates})
	if err != nil {
		return nil, fmt.Errorf("template check: %w", err)
	}
	// A validator that failed at start has already written its reason and exited: the write then
	// fails, and the reason is still waiting on stdout.
	_, writeErr := v.stdin.Write(append(request, '\n'))
	line, err := v.stdout.ReadBytes('\n')
	if err != nil {
		if writeErr != nil {
			err = writeErr
		}
		return nil, fmt.Errorf("template check: the validator process stopped without an answer (its error is above): %w", err)
	}
	var response struct {
		Error   string `json:"error"`
		Results []struct {
			Stack       string    `json:"stack"`
			Diagnostics []Finding `json:"diagnostics"`
		} `json:"results"`
	}
	if err := json.Unmarshal(line, &response); err != nil {
		return nil, fmt.Errorf("template check: unreadable answer from the validator: %w", err)
	}
	if response.Error != "" {
		return nil, errors.New("template check: " + response.Error)
	}
	if len(response.Results) != len(templates) {
		return nil, fmt.Errorf("template check: the validator answered for %d of %d templates", len(response.Results), len(templates))
	}
	var findings []Finding
	for _, r := range response.Results {
		for _, f := range r.Diagnostics {
			f.Stack = r.Stack
			findings = append(findings, f)
		}
	}
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if a.Stack != b.Stack {
			return a.Stack < b.Stack
		}
		if a.Blocking() != b.Blocking() {
			return a.Blocking()
		}
		return a.RuleID < b.RuleID
	})
	return findings, nil
}

// Close ends the validator process if it still runs; it is safe to call more than once.
func (v *Validator) Close() {
	if v == nil || v.cmd.ProcessState != nil {
		return
	}
	_ = v.stdin.Close()
	_ = v.cmd.Process.Kill()
	_ = v.cmd.Wait()
}

// Summary renders the findings in templates templates for the synth's output: one line each, then a
// verdict line.
func Summary(templates int, findings []Finding) string {
	var b strings.Builder
	blocking := 0
	for _, f := range findings {
		b.WriteString("template check: " + f.String() + "\n")
		if f.Blocking() {
			blocking++
		}
	}
	switch {
	case blocking > 0:
		fmt.Fprintf(&b, "template check: %d error(s) CloudFormation would reject the templates for: fix them before deploying\n", blocking)
	case len(findings) > 0:
		fmt.Fprintf(&b, "template check: %d template(s), %d warning(s), no errors\n", templates, len(findings))
	default:
		fmt.Fprintf(&b, "template check: %d template(s) valid\n", templates)
	}
	return b.String()
}
