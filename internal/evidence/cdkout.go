package evidence

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// nagPacks are the cdk-nag rule packs the CDK app applies to every stack (cdk/), each writing
// <pack>-<stack>-NagReport.csv into cdk.out when synthesized with -c nagReports=true.
var nagPacks = []string{"AwsSolutions", "HIPAA.Security"}

// assembly is what the cdk.out collector read: the stacks of manifest.json and their templates.
type assembly struct {
	dir       string
	manifest  File
	stacks    []string
	templates map[string]File
	modTime   time.Time
}

// collectCDKOut produces the nag, template-check, IAM and header-policy evidence from cdk.out.
func collectCDKOut(c *Catalogue, in Inputs) []Evidence {
	ids := []string{"nag-encryption-at-rest", "nag-encryption-in-transit", "nag-access", "nag-logging",
		"nag-backup", "nag-network", "nag-baseline", "template-check", "iam-oncall-mfa", "iam-least-privilege", "headers-policy"}
	asm, err := readAssembly(in.CDKOut)
	if err != nil {
		out := make([]Evidence, len(ids))
		for i, id := range ids {
			out[i] = missing(id, err)
		}
		return out
	}
	out := nagEvidence(c, asm)
	out = append(out, templateCheckEvidence(asm), oncallMFAEvidence(asm), leastPrivilegeEvidence(asm), headersPolicyEvidence(asm))
	return out
}

func readAssembly(dir string) (*assembly, error) {
	mf, mt, err := readFile(filepath.Join(dir, "manifest.json"), "make synth")
	if err != nil {
		return nil, err
	}
	var m struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(mf.data, &m); err != nil {
		return nil, fmt.Errorf("%s is not a cloud assembly manifest: %w", mf.Path, err)
	}
	asm := &assembly{dir: dir, manifest: mf, templates: map[string]File{}, modTime: mt}
	for name, a := range m.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		f, t, err := readFile(filepath.Join(dir, a.Properties.TemplateFile), "make synth")
		if err != nil {
			return nil, err
		}
		asm.stacks = append(asm.stacks, name)
		asm.templates[name] = f
		if t.Before(asm.modTime) {
			asm.modTime = t
		}
	}
	if len(asm.stacks) == 0 {
		return nil, fmt.Errorf("%s lists no stack: run make synth", mf.Path)
	}
	sort.Strings(asm.stacks)
	return asm, nil
}

// nagFinding is one line of a cdk-nag CSV report.
type nagFinding struct {
	Rule, Resource, Compliance, Reason string
}

// nagEvidence reads every stack's report of every pack and splits the findings by rule category.
func nagEvidence(c *Catalogue, asm *assembly) []Evidence {
	categories := []string{"nag-encryption-at-rest", "nag-encryption-in-transit", "nag-access", "nag-logging", "nag-backup", "nag-network"}
	ruleCategory := map[string]string{}
	for ev, rules := range c.NagRules {
		for _, r := range rules {
			ruleCategory[r] = ev
		}
	}
	var files []File
	var findings []nagFinding
	oldest := asm.modTime
	var readErrs []string
	for _, stack := range asm.stacks {
		for _, pack := range nagPacks {
			f, t, err := readFile(filepath.Join(asm.dir, pack+"-"+stack+"-NagReport.csv"), "make synth (cdk synth -c nagReports=true)")
			if err != nil {
				readErrs = append(readErrs, err.Error())
				continue
			}
			lines, err := parseNagCSV(f.data)
			if err != nil {
				readErrs = append(readErrs, fmt.Sprintf("%s: %v", f.Path, err))
				continue
			}
			files = append(files, f)
			findings = append(findings, lines...)
			if t.Before(oldest) {
				oldest = t
			}
		}
	}
	all := append(categories, "nag-baseline")
	if len(readErrs) > 0 {
		out := make([]Evidence, len(all))
		for i, id := range all {
			out[i] = Evidence{ID: id, Status: Missing, Summary: "cdk-nag reports missing or unreadable", Problems: readErrs}
		}
		return out
	}
	var out []Evidence
	for _, id := range all {
		var mine []nagFinding
		for _, f := range findings {
			if id == "nag-baseline" || ruleCategory[f.Rule] == id {
				mine = append(mine, f)
			}
		}
		e := nagSummary(id, mine)
		e.Files, e.Time, e.TimeSource = files, oldest, fromModTime
		out = append(out, e)
	}
	return out
}

func parseNagCSV(b []byte) ([]nagFinding, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("not a cdk-nag CSV report: %w", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0][:min(3, len(rows[0]))], []string{"Rule ID", "Resource ID", "Compliance"}) {
		return nil, fmt.Errorf("not a cdk-nag CSV report: the header is not Rule ID,Resource ID,Compliance,...")
	}
	var out []nagFinding
	for _, r := range rows[1:] {
		if len(r) < 4 {
			return nil, fmt.Errorf("not a cdk-nag CSV report: a line has %d fields", len(r))
		}
		out = append(out, nagFinding{Rule: r[0], Resource: r[1], Compliance: r[2], Reason: r[3]})
	}
	return out, nil
}

// nagSummary passes when no finding is Non-Compliant or UNKNOWN (a rule that failed to evaluate).
func nagSummary(id string, fs []nagFinding) Evidence {
	counts := map[string]int{}
	rules := map[string]bool{}
	var problems []string
	for _, f := range fs {
		counts[f.Compliance]++
		rules[f.Rule] = true
		switch f.Compliance {
		case "Compliant", "Suppressed":
		case "UNKNOWN":
			problems = append(problems, fmt.Sprintf("%s on %s could not be evaluated (UNKNOWN)", f.Rule, f.Resource))
		default:
			problems = append(problems, fmt.Sprintf("%s %s on %s", f.Rule, f.Compliance, f.Resource))
		}
	}
	e := Evidence{ID: id, Status: Passed,
		Counts: []Count{{Label: "compliant", Value: counts["Compliant"]}, {Label: "suppressed with a reason", Value: counts["Suppressed"]},
			{Label: "non-compliant", Value: len(problems), Bad: true}}}
	e.Summary = fmt.Sprintf("%d rules, %d checks: %d compliant, %d suppressed with a reason, %d non-compliant",
		len(rules), len(fs), counts["Compliant"], counts["Suppressed"], len(problems))
	if len(fs) == 0 {
		e.Status = Failed
		problems = append(problems, "no rule of this kind was evaluated: the reports hold none of its rules")
	}
	if len(problems) > 0 {
		e.Status = Failed
		e.Problems = problems
	}
	return e
}

// templateCheckEvidence reads cdk.out/template-check.json (constructs/templatecheck).
func templateCheckEvidence(asm *assembly) Evidence {
	const id = "template-check"
	f, t, err := readFile(filepath.Join(asm.dir, "template-check.json"), "make synth")
	if err != nil {
		return missing(id, err)
	}
	var rep struct {
		Validator string   `json:"validator"`
		Stacks    []string `json:"stacks"`
		Findings  []struct {
			Stack, RuleID, Severity, Message, LogicalID string
		} `json:"findings"`
	}
	if err := json.Unmarshal(f.data, &rep); err != nil || rep.Validator == "" {
		return Evidence{ID: id, Status: Failed, Files: []File{f}, Summary: "not a template check report",
			Problems: []string{fmt.Sprintf("%s is not constructs/templatecheck's report (%v)", f.Path, err)}}
	}
	e := Evidence{ID: id, Status: Passed, Files: []File{f}, Time: t, TimeSource: fromModTime}
	sev := map[string]int{}
	for _, x := range rep.Findings {
		sev[x.Severity]++
		if x.Severity != "WARN" {
			e.Problems = append(e.Problems, fmt.Sprintf("%s %s %s in %s: %s", x.Severity, x.RuleID, x.LogicalID, x.Stack, x.Message))
		}
	}
	for _, s := range asm.stacks {
		if !slices.Contains(rep.Stacks, s) {
			e.Problems = append(e.Problems, fmt.Sprintf("stack %s of the assembly was not checked", s))
		}
	}
	e.Counts = []Count{{Label: "stacks checked", Value: len(rep.Stacks)}, {Label: "warnings", Value: sev["WARN"]},
		{Label: "errors", Value: sev["ERROR"] + sev["FATAL"], Bad: true}}
	e.Summary = fmt.Sprintf("%s checked %d stacks: %d errors, %d warnings", rep.Validator, len(rep.Stacks), sev["ERROR"]+sev["FATAL"], sev["WARN"])
	if len(e.Problems) > 0 {
		e.Status = Failed
	}
	return e
}

// cfnTemplate is the part of a CloudFormation template the IAM and header facts read.
type cfnTemplate struct {
	Resources map[string]struct {
		Type       string          `json:"Type"`
		Properties json.RawMessage `json:"Properties"`
	} `json:"Resources"`
	Outputs map[string]struct {
		Value json.RawMessage `json:"Value"`
	} `json:"Outputs"`
}

func (asm *assembly) template(stack string) (cfnTemplate, error) {
	var t cfnTemplate
	if err := json.Unmarshal(asm.templates[stack].data, &t); err != nil {
		return t, fmt.Errorf("%s is not a CloudFormation template: %w", asm.templates[stack].Path, err)
	}
	return t, nil
}

func (asm *assembly) templateFiles() []File {
	out := make([]File, 0, len(asm.stacks))
	for _, s := range asm.stacks {
		out = append(out, asm.templates[s])
	}
	return out
}

// oneOrMany decodes a JSON value that is a string or a list (IAM's Action, Resource).
type oneOrMany []json.RawMessage

func (o *oneOrMany) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var l []json.RawMessage
		err := json.Unmarshal(b, &l)
		*o = l
		return err
	}
	*o = []json.RawMessage{b}
	return nil
}

// strings returns the plain string values (intrinsic functions are skipped).
func (o oneOrMany) strings() []string {
	var out []string
	for _, r := range o {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

type policyStatement struct {
	Effect    string                                `json:"Effect"`
	Action    oneOrMany                             `json:"Action"`
	NotAction oneOrMany                             `json:"NotAction"`
	Resource  oneOrMany                             `json:"Resource"`
	Condition map[string]map[string]json.RawMessage `json:"Condition"`
}

type policyDocument struct {
	Statement []policyStatement `json:"Statement"`
}

// oncallMFAEvidence finds the role behind the OnCallRoleArn output and checks every Allow of its
// trust policy requires aws:MultiFactorAuthPresent.
func oncallMFAEvidence(asm *assembly) Evidence {
	const id = "iam-oncall-mfa"
	for _, s := range asm.stacks {
		t, err := asm.template(s)
		if err != nil {
			return Evidence{ID: id, Status: Failed, Summary: "template unreadable", Problems: []string{err.Error()}}
		}
		out, ok := t.Outputs["OnCallRoleArn"]
		if !ok {
			continue
		}
		var ga struct {
			GetAtt []string `json:"Fn::GetAtt"`
		}
		f := asm.templates[s]
		e := Evidence{ID: id, Files: []File{f}, Time: asm.modTime, TimeSource: fromModTime}
		if json.Unmarshal(out.Value, &ga) != nil || len(ga.GetAtt) != 2 {
			e.Status, e.Summary = Failed, "the OnCallRoleArn output names no role"
			e.Problems = []string{fmt.Sprintf("%s: output OnCallRoleArn is not a Fn::GetAtt of a role", s)}
			return e
		}
		role := t.Resources[ga.GetAtt[0]]
		var props struct {
			AssumeRolePolicyDocument policyDocument `json:"AssumeRolePolicyDocument"`
		}
		if role.Type != "AWS::IAM::Role" || json.Unmarshal(role.Properties, &props) != nil {
			e.Status, e.Summary = Failed, "the on-call role is not in the template"
			e.Problems = []string{fmt.Sprintf("%s: %s is not an AWS::IAM::Role", s, ga.GetAtt[0])}
			return e
		}
		allows := 0
		for i, st := range props.AssumeRolePolicyDocument.Statement {
			if st.Effect != "Allow" {
				continue
			}
			allows++
			if v := condString(st.Condition, "Bool", "aws:MultiFactorAuthPresent"); v != "true" {
				e.Problems = append(e.Problems, fmt.Sprintf("%s %s: trust statement %d allows sts:AssumeRole without aws:MultiFactorAuthPresent true", s, ga.GetAtt[0], i))
			}
		}
		if allows == 0 {
			e.Problems = append(e.Problems, fmt.Sprintf("%s %s: the trust policy allows nobody", s, ga.GetAtt[0]))
		}
		e.Status = Passed
		e.Summary = fmt.Sprintf("on-call role %s (%s): every one of %d trust statements requires MFA", ga.GetAtt[0], s, allows)
		if len(e.Problems) > 0 {
			e.Status, e.Summary = Failed, fmt.Sprintf("on-call role %s (%s) can be assumed without MFA", ga.GetAtt[0], s)
		}
		return e
	}
	return Evidence{ID: id, Status: Failed, Files: asm.templateFiles(), Time: asm.modTime, TimeSource: fromModTime,
		Summary: "no on-call role", Problems: []string{"no synthesized stack has the OnCallRoleArn output (constructs/roles)"}}
}

func condString(cond map[string]map[string]json.RawMessage, op, key string) string {
	var s string
	if raw, ok := cond[op][key]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// fullAccessPolicyRE matches an AWS managed policy that grants everything or whole services, in a
// plain ARN or the Fn::Join CDK writes.
var fullAccessPolicyRE = regexp.MustCompile(`:iam::aws:policy/(?:[\w+=,.@-]+/)*(AdministratorAccess|PowerUserAccess|\w*FullAccess)"`)

// leastPrivilegeEvidence checks every IAM policy document and managed policy of every template.
func leastPrivilegeEvidence(asm *assembly) Evidence {
	const id = "iam-least-privilege"
	e := Evidence{ID: id, Files: asm.templateFiles(), Time: asm.modTime, TimeSource: fromModTime}
	roles, statements := 0, 0
	for _, s := range asm.stacks {
		t, err := asm.template(s)
		if err != nil {
			return Evidence{ID: id, Status: Failed, Summary: "template unreadable", Problems: []string{err.Error()}}
		}
		for _, logical := range sortedKeys(t.Resources) {
			r := t.Resources[logical]
			var docs []policyDocument
			switch r.Type {
			case "AWS::IAM::User":
				e.Problems = append(e.Problems, fmt.Sprintf("%s %s: an IAM user (people use roles with MFA)", s, logical))
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				var p struct {
					PolicyDocument policyDocument `json:"PolicyDocument"`
				}
				_ = json.Unmarshal(r.Properties, &p)
				docs = append(docs, p.PolicyDocument)
			case "AWS::IAM::Role":
				roles++
				var p struct {
					Policies []struct {
						PolicyDocument policyDocument `json:"PolicyDocument"`
					} `json:"Policies"`
					ManagedPolicyArns oneOrMany `json:"ManagedPolicyArns"`
				}
				_ = json.Unmarshal(r.Properties, &p)
				for _, x := range p.Policies {
					docs = append(docs, x.PolicyDocument)
				}
				for _, arn := range p.ManagedPolicyArns {
					if m := fullAccessPolicyRE.FindStringSubmatch(string(arn)); m != nil {
						e.Problems = append(e.Problems, fmt.Sprintf("%s %s: attaches the AWS managed policy %s", s, logical, m[1]))
					}
				}
			}
			for _, d := range docs {
				for _, st := range d.Statement {
					statements++
					if st.Effect != "Allow" {
						continue
					}
					if len(st.NotAction) > 0 {
						e.Problems = append(e.Problems, fmt.Sprintf("%s %s: Allow with NotAction", s, logical))
					}
					for _, a := range st.Action.strings() {
						if a == "*" || strings.HasSuffix(a, ":*") {
							e.Problems = append(e.Problems, fmt.Sprintf("%s %s: Allow of %q", s, logical, a))
						}
					}
				}
			}
		}
	}
	e.Status = Passed
	e.Counts = []Count{{Label: "roles", Value: roles}, {Label: "policy statements", Value: statements}, {Label: "violations", Value: len(e.Problems), Bad: true}}
	e.Summary = fmt.Sprintf("%d roles, %d policy statements in %d templates: no IAM user, no wildcard or full-access grant", roles, statements, len(asm.stacks))
	if len(e.Problems) > 0 {
		e.Status = Failed
		e.Summary = fmt.Sprintf("%d roles, %d policy statements: %d grants beyond least privilege", roles, statements, len(e.Problems))
	}
	return e
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
