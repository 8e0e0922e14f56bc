package ci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// job is a resolved job: its map after `extends`, as GitLab merges it (maps deep, lists replaced).
type job map[string]any

func loadPipeline(t *testing.T) (stages []string, jobs map[string]job, raw string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf(".gitlab-ci.yml is not valid YAML: %v", err)
	}
	for _, s := range doc["stages"].([]any) {
		stages = append(stages, s.(string))
	}
	reserved := map[string]bool{"stages": true, "variables": true, "default": true, "workflow": true, "include": true}
	jobs = map[string]job{}
	for name := range doc {
		if reserved[name] || strings.HasPrefix(name, ".") {
			continue
		}
		jobs[name] = resolve(t, doc, name, 0)
	}
	return stages, jobs, string(b)
}

func resolve(t *testing.T, doc map[string]any, name string, depth int) job {
	if depth > 10 {
		t.Fatalf("extends loop at %s", name)
	}
	own, ok := doc[name].(map[string]any)
	if !ok {
		t.Fatalf("job %s is not a map", name)
	}
	out := job{}
	var parents []string
	switch e := own["extends"].(type) {
	case string:
		parents = []string{e}
	case []any:
		for _, p := range e {
			parents = append(parents, p.(string))
		}
	}
	for _, p := range parents {
		merge(out, resolve(t, doc, p, depth+1))
	}
	merge(out, own)
	delete(out, "extends")
	return out
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				m := map[string]any{}
				merge(m, dv)
				merge(m, sv)
				dst[k] = m
				continue
			}
		}
		dst[k] = v
	}
}

func (j job) script() string {
	var lines []string
	for _, key := range []string{"before_script", "script"} {
		if l, ok := j[key].([]any); ok {
			for _, s := range l {
				lines = append(lines, s.(string))
			}
		}
	}
	return strings.Join(lines, "\n")
}

func (j job) rules() []map[string]any {
	var out []map[string]any
	if l, ok := j["rules"].([]any); ok {
		for _, r := range l {
			out = append(out, r.(map[string]any))
		}
	}
	return out
}

func (j job) needs() []string {
	var out []string
	if l, ok := j["needs"].([]any); ok {
		for _, n := range l {
			out = append(out, n.(string))
		}
	}
	return out
}

func TestStagesRunInTheSecurityOrder(t *testing.T) {
	// GIVEN the pipeline WHEN its stages are read THEN verify and audit come before any synth or deploy
	stages, jobs, _ := loadPipeline(t)
	want := []string{"verify", "audit", "synth", "deploy", "pentest", "production", "scheduled"}
	if !slices.Equal(stages, want) {
		t.Fatalf("stages = %v, want %v", stages, want)
	}
	for _, name := range []string{"vet", "test", "govulncheck", "npm-audit", "synth"} {
		if _, ok := jobs[name]; !ok {
			t.Errorf("job %s missing", name)
		}
	}
	if !strings.Contains(jobs["govulncheck"].script(), "make audit-go") || !strings.Contains(jobs["npm-audit"].script(), "make audit-npm") {
		t.Error("the audit jobs must run make audit-go and make audit-npm")
	}
	if !strings.Contains(jobs["synth"].script(), "make synth") {
		t.Error("synth must run make synth (cdk synth --strict with cdk-nag)")
	}
}

func TestNoJobMayFailSilently(t *testing.T) {
	_, jobs, _ := loadPipeline(t)
	for name, j := range jobs {
		if j["allow_failure"] == true {
			t.Errorf("job %s has allow_failure: true: a finding or failed attack would not stop the pipeline", name)
		}
		for _, r := range j.rules() {
			if r["allow_failure"] == true {
				t.Errorf("job %s has a rule with allow_failure: true", name)
			}
		}
	}
}

func TestDeploysUseOIDCFromProtectedRefsOnly(t *testing.T) {
	_, jobs, raw := loadPipeline(t)
	// GIVEN every job that runs cdk deploy
	deploys := 0
	for name, j := range jobs {
		if !strings.Contains(j.script(), "cdk deploy") {
			continue
		}
		deploys++
		// THEN it gets AWS credentials only from its OIDC id token, with an audience
		tok, _ := j["id_tokens"].(map[string]any)["GITLAB_OIDC_TOKEN"].(map[string]any)
		if tok == nil || tok["aud"] == nil || tok["aud"] == "" {
			t.Errorf("%s: no id_tokens GITLAB_OIDC_TOKEN with aud", name)
		}
		if !strings.Contains(j.script(), "scripts/ci-aws-oidc.sh") {
			t.Errorf("%s: does not take credentials through scripts/ci-aws-oidc.sh", name)
		}
		// AND it deploys the synthesized, nag-checked assembly, one stack at a time
		if !strings.Contains(j.script(), "--app cdk.out") || !slices.Contains(j.needs(), "synth") {
			t.Errorf("%s: must deploy --app cdk.out from the synth job (needs: [synth])", name)
		}
		if j["resource_group"] == nil {
			t.Errorf("%s: no resource_group: two pipelines could deploy at once", name)
		}
		// AND it never runs on schedules and only on the protected default branch
		rules := j.rules()
		if len(rules) == 0 {
			t.Fatalf("%s: no rules", name)
		}
		for _, r := range rules {
			cond, _ := r["if"].(string)
			if r["when"] == "never" {
				continue
			}
			if !strings.Contains(cond, `$CI_COMMIT_REF_PROTECTED == "true"`) || !strings.Contains(cond, "$CI_DEFAULT_BRANCH") {
				t.Errorf("%s: a rule lets it run outside the protected default branch: %q", name, cond)
			}
		}
	}
	if deploys != 10 {
		t.Errorf("found %d deploy jobs, want 5 stacks (2 replicas, edge, 2 regions) x (staging, production)", deploys)
	}
	for _, secret := range []string{"AWS_ACCESS_KEY_ID:", "AWS_SECRET_ACCESS_KEY:"} {
		if strings.Contains(raw, secret) {
			t.Errorf(".gitlab-ci.yml sets %s: long-lived keys are not allowed, use the OIDC role", secret)
		}
	}
}

func TestProductionIsManualAndFollowsTheStagingAttackSuite(t *testing.T) {
	_, jobs, _ := loadPipeline(t)
	first := jobs["deploy:production:replica-eu-west-1"]
	if first == nil {
		t.Fatal("deploy:production:replica-eu-west-1 missing")
	}
	manual := false
	for _, r := range first.rules() {
		if r["when"] == "manual" {
			manual = true
		}
	}
	if !manual {
		t.Error("the first production deploy must be started by hand (when: manual)")
	}
	if !slices.Contains(first.needs(), "pentest:staging") {
		t.Error("production must wait for the attack suite against staging")
	}
	// Every production job reaches the manual gate through its needs.
	for name, j := range jobs {
		if j["stage"] != "production" || name == "deploy:production:replica-eu-west-1" {
			continue
		}
		seen := map[string]bool{}
		var reaches func(string) bool
		reaches = func(n string) bool {
			if n == "deploy:production:replica-eu-west-1" {
				return true
			}
			if seen[n] {
				return false
			}
			seen[n] = true
			return slices.ContainsFunc(jobs[n].needs(), reaches)
		}
		if !reaches(name) {
			t.Errorf("%s does not depend on the manual production gate", name)
		}
	}
	if p := jobs["pentest:staging"]; p == nil || !strings.Contains(p.script(), "scripts/pentest-remote.sh") {
		t.Error("pentest:staging must run the attack suite against the deployed stage")
	}
}

func TestScheduledJobsRunOnlyOnTheirSchedule(t *testing.T) {
	_, jobs, _ := loadPipeline(t)
	want := map[string]string{
		"weekly:dependency-audit": "weekly-audit",
		"weekly:pentest":          "weekly-audit",
		"weekly:backup-verify":    "weekly-backup",
		"monthly:failover-drill":  "monthly-drill",
		"monthly:evidence":        "monthly-evidence",
		"weekly:mutation":         "weekly-mutation",
	}
	for name, j := range jobs {
		rules := j.rules()
		if sel, ok := want[name]; ok {
			if len(rules) != 1 {
				t.Errorf("%s: want exactly one rule", name)
				continue
			}
			cond, _ := rules[0]["if"].(string)
			if !strings.Contains(cond, `$CI_PIPELINE_SOURCE == "schedule"`) || !strings.Contains(cond, `$SCHEDULED_JOB == "`+sel+`"`) {
				t.Errorf("%s: rule %q does not select the %s schedule", name, cond, sel)
			}
			continue
		}
		// Every other job stays out of scheduled pipelines.
		if len(rules) == 0 || rules[0]["when"] != "never" || !strings.Contains(rules[0]["if"].(string), `$CI_PIPELINE_SOURCE == "schedule"`) {
			t.Errorf("%s: its first rule must keep it out of scheduled pipelines", name)
		}
	}
	for name := range want {
		if jobs[name] == nil {
			t.Errorf("scheduled job %s missing", name)
		}
	}
	if !strings.Contains(jobs["weekly:backup-verify"].script(), "caro backup verify") ||
		!strings.Contains(jobs["monthly:failover-drill"].script(), "caro failover drill") {
		t.Error("the backup and drill schedules must run caro backup verify and caro failover drill")
	}
}

func TestEachDeployedStageIsPublishedAsTheRelease(t *testing.T) {
	_, jobs, _ := loadPipeline(t)
	// GIVEN the synth job WHEN it synthesizes THEN it names the version the release is published as
	if !strings.Contains(jobs["synth"].script(), `VERSION="$RELEASE_VERSION"`) {
		t.Errorf("synth does not synthesize as $RELEASE_VERSION: %s", jobs["synth"].script())
	}
	for _, stage := range []string{"staging", "production"} {
		j := jobs["release:"+stage]
		if j == nil {
			t.Fatalf("no release:%s job", stage)
		}
		// THEN the release is published after both platform regions of the stage are deployed,
		// from the same assembly and version, with OIDC credentials, as the file-publishing role
		// (the deploy role can write nothing itself)
		for _, need := range []string{"synth", "deploy:" + stage + ":eu-west-1", "deploy:" + stage + ":eu-central-1"} {
			if !slices.Contains(j.needs(), need) {
				t.Errorf("release:%s does not need %s", stage, need)
			}
		}
		if s := j.script(); !strings.Contains(s, "caro release publish") || !strings.Contains(s, `--version "$RELEASE_VERSION"`) ||
			!strings.Contains(s, "--cdk-out cdk.out") || !strings.Contains(s, "scripts/ci-aws-oidc.sh") || !strings.Contains(s, "--assume-publishing-role") {
			t.Errorf("release:%s script: %s", stage, s)
		}
	}
}

func TestEvidenceJobsKeepTheReportAndFailOnAFailedControl(t *testing.T) {
	_, jobs, _ := loadPipeline(t)
	// GIVEN the monthly evidence job and the one after each production deploy
	for _, name := range []string{"monthly:evidence", "evidence:production"} {
		j := jobs[name]
		if j == nil {
			t.Fatalf("job %s missing", name)
		}
		// THEN it runs the checks and caro evidence, whose exit status fails the job
		if !strings.Contains(j.script(), "scripts/evidence-checks.sh") {
			t.Errorf("%s: does not run scripts/evidence-checks.sh", name)
		}
		// AND keeps the report and every evidence file, even when a control failed, for the
		// audit ledger's retention (nine years)
		a, _ := j["artifacts"].(map[string]any)
		paths, _ := a["paths"].([]any)
		if a["when"] != "always" || !slices.Contains(paths, any(".cache/evidence/")) || a["expire_in"] != "9 years" {
			t.Errorf("%s: artifacts %v, want .cache/evidence/ kept always for 9 years", name, a)
		}
	}
	// AND the production one reads this pipeline's synth, govulncheck and attack suite results
	for _, need := range []string{"synth", "govulncheck", "pentest:production"} {
		if !slices.Contains(jobs["evidence:production"].needs(), need) {
			t.Errorf("evidence:production does not need %s", need)
		}
	}
	// AND the script ends with caro evidence, so its exit status is the job's
	b, err := os.ReadFile(filepath.Join("..", "scripts", "evidence-checks.sh"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, `"$CARO" evidence assess `) {
		t.Errorf("scripts/evidence-checks.sh must end with caro evidence assess, ends with %q", last)
	}
}
