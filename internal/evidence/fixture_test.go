package evidence

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/providers/local"
)

// fixture is a complete, passing set of evidence files in a temporary folder, as the real runs
// write them: a two-stack cdk.out, govulncheck JSON, the attack suite's results, a drill report and
// the backup and audit-ledger verifications (encoded from the producing packages' own types).
type fixture struct {
	t   *testing.T
	dir string
	in  Inputs
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, now: time.Now().UTC()}
	f.in = DefaultInputs(Inputs{}, dir, filepath.Join(dir, "cdk.out"))
	if err := os.MkdirAll(f.in.CDKOut, 0o755); err != nil {
		t.Fatal(err)
	}
	f.writeJSON(filepath.Join(f.in.CDKOut, "manifest.json"), map[string]any{"artifacts": map[string]any{
		"CaroEdge":               map[string]any{"type": "aws:cloudformation:stack", "properties": map[string]any{"templateFile": "CaroEdge.template.json"}},
		"CaroPlatform-eu-west-1": map[string]any{"type": "aws:cloudformation:stack", "properties": map[string]any{"templateFile": "CaroPlatform-eu-west-1.template.json"}},
		"Tree":                   map[string]any{"type": "cdk:tree"},
	}})
	f.writeJSON(filepath.Join(f.in.CDKOut, "CaroEdge.template.json"), edgeTemplate(true, headers.Security()))
	f.writeJSON(filepath.Join(f.in.CDKOut, "CaroPlatform-eu-west-1.template.json"), platformTemplate("s3:GetObject"))
	for _, stack := range []string{"CaroEdge", "CaroPlatform-eu-west-1"} {
		for _, pack := range nagPacks {
			f.writeNag(stack, pack, "")
		}
	}
	f.writeJSON(filepath.Join(f.in.CDKOut, "template-check.json"), map[string]any{"validator": "@aws/cloudformation-validate@1.9.0-beta",
		"engine": "rego", "stacks": []string{"CaroEdge", "CaroPlatform-eu-west-1"}, "findings": []any{}})
	f.write(f.in.Govulncheck, govulncheckJSON(false))
	f.writeJSON(f.in.Pentest, pentestResults(f.now, ""))
	f.writeJSON(f.in.Drill, drillFixture(true, 3.8))
	f.writeJSON(f.in.BackupVerify, backup.VerifyReport{BackupID: "20261201T000000Z-abc", SourceRegion: "eu-west-1", BackupTime: f.now.Add(-time.Hour),
		Collections: []backup.CollectionRestore{{}}, Documents: 500, OK: true, Duration: 2 * time.Second})
	f.writeJSON(f.in.AuditVerify, ledger.Report{OK: true, EntriesVerified: 120, CheckpointsVerified: 3, AnchoredTreeSize: 120})
	return f
}

func (f *fixture) write(path string, b []byte) {
	f.t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) writeJSON(path string, v any) {
	f.t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(path, b)
}

// nagRuleSample is one rule of each nag evidence, so every category has checks.
var nagRuleSample = map[string][]string{
	"AwsSolutions":   {"AwsSolutions-KMS5", "AwsSolutions-S10", "AwsSolutions-IAM5", "AwsSolutions-APIG1", "AwsSolutions-SQS3", "AwsSolutions-APIG3", "AwsSolutions-L1"},
	"HIPAA.Security": {"HIPAA.Security-S3DefaultEncryptionKMS", "HIPAA.Security-S3BucketSSLRequestsOnly", "HIPAA.Security-IAMNoInlinePolicy", "HIPAA.Security-CloudWatchAlarmAction", "HIPAA.Security-S3BucketReplicationEnabled", "HIPAA.Security-LambdaInsideVPC"},
}

// writeNag writes a stack's report of a pack: every sample rule compliant, plus extra CSV lines.
func (f *fixture) writeNag(stack, pack, extra string) {
	var b strings.Builder
	b.WriteString("Rule ID,Resource ID,Compliance,Exception Reason,Rule Level,Rule Info\n")
	for i, r := range nagRuleSample[pack] {
		comp, reason := "Compliant", "N/A"
		if i == 2 {
			comp, reason = "Suppressed", "compensating control named here"
		}
		fmt.Fprintf(&b, "%q,%q,%q,%q,\"Error\",\"info\"\n", r, stack+"/Res"+fmt.Sprint(i)+"/Resource", comp, reason)
	}
	b.WriteString(extra)
	f.write(filepath.Join(f.in.CDKOut, pack+"-"+stack+"-NagReport.csv"), []byte(b.String()))
}

func edgeTemplate(mfa bool, h headers.Policy) map[string]any {
	cond := map[string]any{"Bool": map[string]any{"aws:MultiFactorAuthPresent": "true"}, "NumericLessThan": map[string]any{"aws:MultiFactorAuthAge": "3600"}}
	if !mfa {
		cond = map[string]any{}
	}
	var custom []map[string]any
	for _, n := range h.CustomNames() {
		custom = append(custom, map[string]any{"Header": n, "Value": h.Custom[n], "Override": true})
	}
	return map[string]any{
		"Resources": map[string]any{
			"RolesOnCallFailoverRole2B03D8C5": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
				"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{"Action": "sts:AssumeRole", "Effect": "Allow",
					"Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:root"}, "Condition": cond}}},
				"ManagedPolicyArns": []any{map[string]any{"Ref": "RolesOnCallFailoverPolicy"}}}},
			"RolesOnCallFailoverPolicy": map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{
				"PolicyDocument": map[string]any{"Statement": []any{map[string]any{"Action": []any{"route53:ChangeResourceRecordSets", "cloudformation:CreateChangeSet"}, "Effect": "Allow", "Resource": "*"}}}}},
			"EdgeSecurityHeaders": map[string]any{"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": map[string]any{
				"ResponseHeadersPolicyConfig": map[string]any{
					"CustomHeadersConfig": map[string]any{"Items": custom},
					"SecurityHeadersConfig": map[string]any{
						"ContentSecurityPolicy":   map[string]any{"ContentSecurityPolicy": h.ContentSecurityPolicy, "Override": true},
						"ContentTypeOptions":      map[string]any{"Override": true},
						"FrameOptions":            map[string]any{"FrameOption": h.FrameOptions, "Override": true},
						"ReferrerPolicy":          map[string]any{"ReferrerPolicy": h.ReferrerPolicy, "Override": true},
						"StrictTransportSecurity": map[string]any{"AccessControlMaxAgeSec": h.HSTSMaxAgeSeconds, "IncludeSubdomains": h.HSTSIncludeSubDomains, "Preload": h.HSTSPreload, "Override": true},
					}}}},
		},
		"Outputs": map[string]any{"OnCallRoleArn": map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{"RolesOnCallFailoverRole2B03D8C5", "Arn"}}}},
	}
}

func platformTemplate(action string) map[string]any {
	return map[string]any{"Resources": map[string]any{
		"ApiFunctionRole": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}}}},
			"ManagedPolicyArns":        []any{map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}}}}}},
		"ApiFunctionPolicy": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{
			"PolicyDocument": map[string]any{"Statement": []any{map[string]any{"Action": action, "Effect": "Allow", "Resource": "arn:aws:s3:::bucket/*"}}}}},
	}}
}

// govulncheckJSON is govulncheck's -format json stream, with one vulnerability only imported and,
// when reached, one the code calls.
func govulncheckJSON(reached bool) []byte {
	msgs := []string{
		`{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scanner_version":"v1.7.0","db":"file:///vulndb","db_last_modified":"2026-11-30T00:00:00Z","go_version":"go1.26.0","scan_level":"symbol","scan_mode":"source"}}`,
		`{"progress":{"message":"Scanning your code and 500 packages across 80 dependent modules for known vulnerabilities..."}}`,
		`{"osv":{"id":"GO-2026-0001","summary":"imported only"}}`,
		`{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.2.3","trace":[{"module":"example.com/dep","version":"v1.2.0","package":"example.com/dep/x"}]}}`,
	}
	if reached {
		msgs = append(msgs, `{"finding":{"osv":"GO-2026-0002","fixed_version":"v0.9.1","trace":[{"module":"example.com/vuln","version":"v0.9.0","package":"example.com/vuln","function":"Parse"},{"module":"github.com/carohealth/platform","package":"github.com/carohealth/platform/internal/api","function":"Handle"}]}}`)
	}
	return []byte(strings.Join(msgs, "\n") + "\n")
}

func pentestResults(finished time.Time, failing string) PentestResults {
	cases := []PentestCase{
		{Name: "A reads B's patient by ID", File: "test/tenant.test.js", Status: "passed"},
		{Name: "alg none token", File: "test/authn.test.js", Status: "passed"},
		{Name: "every response kind carries exactly internal/headers", File: "test/headers.test.js", Status: "passed"},
		{Name: "cookies are Secure, HttpOnly, SameSite", File: "test/headers.test.js", Status: "passed"},
		{Name: "markup in names is never executed", File: "test/browser.test.js", Status: "skipped", Message: "no test user"},
	}
	r := PentestResults{Format: PentestFormat, Target: "http://127.0.0.1:41234", TokenMode: "dev", Started: finished.Add(-time.Minute), Finished: finished}
	for i, k := range cases {
		if k.Name == failing {
			cases[i].Status, cases[i].Message = "failed", "the attack succeeded: 200 OK"
		}
		switch cases[i].Status {
		case "passed":
			r.Passed++
		case "failed":
			r.Failed++
		default:
			r.Skipped++
		}
	}
	r.Cases = cases
	return r
}

func drillFixture(ok bool, rto float64) local.DrillReport {
	r := local.DrillReport{OK: ok, RTOSeconds: rto, ApplyRTOSeconds: rto - 0.4, RPOSeconds: 1.2, RecordsExpected: 500, RecordsRestored: 500,
		ChecksumExpected: "abc123", ChecksumRestored: "abc123", UsersExpected: 20, UsersRestored: 20,
		DNSBefore: "127.0.0.1:1001", DNSAfter: "127.0.0.1:1002", Applies: 1,
		Steps: []local.DrillStep{{Name: "preflight", Seconds: 0.05, Status: "completed"}, {Name: "deploy", Seconds: 0.3, Status: "completed"},
			{Name: "restore", Seconds: 2.4, Status: "completed"}, {Name: "identities", Seconds: 0.2, Status: "completed"},
			{Name: "verify", Seconds: 0.4, Status: "completed"}, {Name: "dns", Seconds: 0.1, Status: "completed"}, {Name: "confirm", Seconds: 0.3, Status: "completed"}},
		Ledger: &local.DrillLedger{OK: true, EntriesBeforeBackup: 30, EntriesAfterBackup: 10, Checkpoints: 4, EntriesExpected: 40, EntriesRestored: 40,
			VerifyOK: true, EntriesVerified: 40, CheckpointsVerified: 4}}
	if !ok {
		r.Problems = []string{"records: 480 of 500 restored"}
		r.RecordsRestored = 480
	}
	return r
}

// assess collects and assesses the fixture's files at the fixture's time.
func (f *fixture) assess() *Assessment {
	f.t.Helper()
	c, err := DefaultCatalogue()
	if err != nil {
		f.t.Fatal(err)
	}
	return Assess(c, Collect(c, f.in), f.now)
}

// statuses maps "framework control" to its status.
func statuses(a *Assessment) map[string]ControlStatus {
	out := map[string]ControlStatus{}
	for _, r := range a.Controls {
		out[r.Control.Framework+" "+r.Control.ID] = r.Status
	}
	return out
}
