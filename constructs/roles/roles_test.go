package roles_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/roles"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

const account = "111111111111"

func props() *roles.Props {
	return &roles.Props{
		Account:              account,
		ProjectPath:          "carohealth/platform",
		ProtectedBranches:    []string{"main"},
		DeployRegions:        []string{"us-east-1", "eu-west-1", "eu-central-1"},
		PlatformRegions:      []string{"eu-west-1", "eu-central-1"},
		HostedZoneID:         "Z04817572CAROHEALTH1",
		UserPoolArns:         []string{"arn:aws:cognito-idp:eu-west-1:111111111111:userpool/*", "arn:aws:cognito-idp:eu-central-1:111111111111:userpool/*"},
		UserPoolTagKey:       "caro:user-pool",
		UserPoolTagValue:     "platform",
		BackupBucketArns:     []string{"arn:aws:s3:::caro-backups-eu-west-1", "arn:aws:s3:::caro-journal-eu-west-1"},
		BackupKeyArns:        []string{"arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		BackupBucketKeyAlias: "caro/replica",
		LedgerReplicaBucketArns: []string{
			"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1", "arn:aws:s3:::caro-ledger-replica-111111111111-eu-central-1",
		},
		LedgerReplicaKeyAlias: "caro/replica",
		LedgerBucketArns: []string{
			"arn:aws:s3:::caro-ledger-111111111111-eu-west-1", "arn:aws:s3:::caro-ledger-111111111111-eu-central-1",
		},
		LedgerBucketKeyAlias: "caro/platform",
	}
}

// rolesByDescription returns the roles whose description starts with prefix.
func rolesByDescription(tmpl assertions.Template, prefix string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range *tmpl.FindResources(jsii.String("AWS::IAM::Role"), nil) {
		props, _ := (*r)["Properties"].(map[string]any)
		if d, _ := props["Description"].(string); strings.HasPrefix(d, prefix) {
			out[id] = props
		}
	}
	return out
}

func synth(t *testing.T, p *roles.Props) (awscdk.Stack, assertions.Template) {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("RolesTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(account), Region: jsii.String("eu-west-1")},
	})
	roles.New(stack, "Roles", p)
	nagcheck.Apply(stack)
	return stack, assertions.Template_FromStack(stack, nil)
}

// policyActions returns every action of every managed policy in the template, by policy logical ID
// prefix, so tests can say "this and nothing else".
func policyStatements(t *testing.T, tmpl assertions.Template, idPrefix string) []map[string]any {
	t.Helper()
	found := tmpl.FindResources(jsii.String("AWS::IAM::ManagedPolicy"), nil)
	var out []map[string]any
	for id, res := range *found {
		if !strings.HasPrefix(id, idPrefix) {
			continue
		}
		b, _ := json.Marshal(res)
		var r struct {
			Properties struct {
				PolicyDocument struct{ Statement []map[string]any }
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Properties.PolicyDocument.Statement...)
	}
	if len(out) == 0 {
		t.Fatalf("no managed policy with logical ID prefix %q", idPrefix)
	}
	return out
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func TestRoles(t *testing.T) {
	// GIVEN a stack WHEN the roles construct is added for the platform project
	stack, tmpl := synth(t, props())

	t.Run("THEN a native GitLab OIDC provider trusts the pipeline audience", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::OIDCProvider"), map[string]any{
			"Url":          "https://gitlab.com",
			"ClientIdList": []any{"https://gitlab.com"},
		})
	})

	t.Run("THEN only the project's protected branch may assume the deploy role", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"MaxSessionDuration": 3600,
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action": "sts:AssumeRoleWithWebIdentity",
				"Effect": "Allow",
				"Condition": map[string]any{"StringEquals": map[string]any{
					"gitlab.com:aud": "https://gitlab.com",
					"gitlab.com:sub": []any{"project_path:carohealth/platform:ref_type:branch:ref:main"},
				}},
				"Principal": map[string]any{"Federated": assertions.Match_AnyValue()},
			}}},
		})
	})

	t.Run("THEN the deploy role can only assume the listed CDK bootstrap roles", func(t *testing.T) {
		st := policyStatements(t, tmpl, "RolesDeployPolicy")
		if len(st) != 1 {
			t.Fatalf("deploy policy has %d statements, want 1: %v", len(st), st)
		}
		if got := strs(st[0]["Action"]); len(got) != 1 || got[0] != "sts:AssumeRole" {
			t.Errorf("deploy actions = %v, want only sts:AssumeRole", got)
		}
		res := strs(st[0]["Resource"])
		if len(res) != 12 {
			t.Errorf("deploy resources = %d, want 4 bootstrap roles x 3 regions: %v", len(res), res)
		}
		for _, want := range []string{
			"arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-us-east-1",
			"arn:aws:iam::111111111111:role/cdk-hnb659fds-file-publishing-role-111111111111-eu-west-1",
			"arn:aws:iam::111111111111:role/cdk-hnb659fds-image-publishing-role-111111111111-eu-central-1",
			"arn:aws:iam::111111111111:role/cdk-hnb659fds-lookup-role-111111111111-eu-west-1",
		} {
			if !contains(res, want) {
				t.Errorf("deploy resources lack %s", want)
			}
		}
		for _, r := range res {
			if strings.Contains(r, "*") {
				t.Errorf("deploy resource %q has a wildcard", r)
			}
		}
	})

	t.Run("THEN the on-call role needs MFA no older than an hour and gives one-hour sessions", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"MaxSessionDuration": 3600,
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action": "sts:AssumeRole",
				"Effect": "Allow",
				"Condition": map[string]any{
					"Bool":            map[string]any{"aws:MultiFactorAuthPresent": "true"},
					"NumericLessThan": map[string]any{"aws:MultiFactorAuthAge": "3600"},
				},
				"Principal": map[string]any{"AWS": assertions.Match_AnyValue()},
			}}},
		})
	})

	t.Run("THEN the on-call policy names only failover actions, on the platform's resources", func(t *testing.T) {
		allowed := map[string]bool{}
		for _, a := range []string{
			"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResources",
			"cloudformation:ListStackResources", "cloudformation:GetTemplate", "cloudformation:CreateChangeSet",
			"cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet",
			"cloudformation:ListChangeSets", "route53:GetHostedZone", "route53:ListResourceRecordSets",
			"route53:ChangeResourceRecordSets", "route53:GetChange", "route53:GetHealthCheck",
			"route53:GetHealthCheckStatus", "route53:UpdateHealthCheck", "cognito-idp:AdminCreateUser",
			"cognito-idp:AdminGetUser", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion",
			"kms:Decrypt", "kms:DescribeKey",
			"kms:GenerateDataKey",             // only through S3 with the buckets' key alias (checked below)
			"s3:PutObject", "s3:DeleteObject", // the failover journal and lock, under failover/ only (checked below)
			"s3:ListBucketVersions", "s3:GetObjectRetention", // the ledger checkpoint replicas, read-only (TestOnCallRecoversTheLedger)
		} {
			allowed[a] = true
		}
		sids := map[string]bool{}
		for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
			if st["Effect"] != "Allow" {
				continue
			}
			sids[fmt.Sprint(st["Sid"])] = true
			cond, _ := json.Marshal(st["Condition"])
			for _, a := range strs(st["Action"]) {
				// Every KMS and Cognito permission is narrowed beyond its ARN pattern, or names exact keys.
				if (strings.HasPrefix(a, "cognito-idp:") || strings.HasPrefix(a, "kms:")) && st["Condition"] == nil && st["Sid"] != "DescribeBackupKeys" {
					t.Errorf("statement %v grants %s without a condition", st["Sid"], a)
				}
			}
			for _, a := range strs(st["Action"]) {
				if !allowed[a] || strings.Contains(a, "*") {
					t.Errorf("on-call action %q is not a failover step", a)
				}
			}
			for _, r := range strs(st["Resource"]) {
				if r == "*" {
					t.Errorf("statement %v grants on every resource", st["Sid"])
				}
			}
			switch st["Sid"] {
			case "PlatformStacks":
				for _, r := range strs(st["Resource"]) {
					if !strings.Contains(r, ":stack/CaroPlatform-") {
						t.Errorf("stack resource %q is not a CaroPlatform stack", r)
					}
				}
			case "FailoverRecords":
				if got := strs(st["Resource"]); len(got) != 1 || got[0] != "arn:aws:route53:::hostedzone/Z04817572CAROHEALTH1" {
					t.Errorf("Route 53 records on %v, want only the one hosted zone", got)
				}
			case "DecryptBackups", "DescribeBackupKeys":
				if got := strs(st["Resource"]); len(got) != 1 || !strings.HasSuffix(got[0], ":key/1234abcd-12ab-34cd-56ef-1234567890ab") {
					t.Errorf("%v with %v, want only the backup key", st["Sid"], got)
				}
				if st["Sid"] == "DecryptBackups" {
					if want := `{"StringEquals":{"kms:EncryptionContext:caro:purpose":["backup","identity-export"]}}`; string(cond) != want {
						t.Errorf("backup key decrypt condition %s, want %s (the restore's and the identity export's data keys only)", cond, want)
					}
				} else if got := strs(st["Action"]); len(got) != 1 || got[0] != "kms:DescribeKey" {
					t.Errorf("DescribeBackupKeys actions %v, want kms:DescribeKey only", got)
				}
			case "BucketEncryptionViaS3":
				if got := strings.Join(strs(st["Resource"]), ","); got != "arn:aws:kms:eu-west-1:111111111111:key/*,arn:aws:kms:eu-central-1:111111111111:key/*" {
					t.Errorf("bucket key resources %s, want the keys of the platform regions", got)
				}
				want := `{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/caro/replica"},"StringEquals":{"kms:ViaService":["s3.eu-west-1.amazonaws.com","s3.eu-central-1.amazonaws.com"]}}`
				if string(cond) != want {
					t.Errorf("bucket key condition %s, want %s", cond, want)
				}
			case "RecreateUsers":
				if want := `{"StringEquals":{"aws:ResourceTag/caro:user-pool":"platform"}}`; string(cond) != want {
					t.Errorf("user pool condition %s, want %s (the platform pools only)", cond, want)
				}
				if got := strings.Join(strs(st["Action"]), ","); got != "cognito-idp:AdminCreateUser,cognito-idp:AdminGetUser" {
					t.Errorf("Cognito actions %s", got)
				}
			case "FailoverJournal":
				for _, r := range strs(st["Resource"]) {
					if !strings.HasSuffix(r, "/failover/*") {
						t.Errorf("failover may write %s, want only the failover/ prefix of the backup buckets", r)
					}
				}
			case "ReadBackups":
				if got := strs(st["Resource"]); len(got) != 2 || got[0] != "arn:aws:s3:::caro-backups-eu-west-1/*" {
					t.Errorf("read objects of %v, want only the backup and journal buckets", got)
				}
			}
		}
		for _, sid := range []string{"RecreateUsers", "BucketEncryptionViaS3", "DescribeBackupKeys", "DecryptBackups", "FailoverJournal"} {
			if !sids[sid] {
				t.Errorf("on-call statement %s missing (have %v)", sid, sids)
			}
		}
	})

	t.Run("THEN the ops role has the deploy role's trust (protected branches via GitLab OIDC) and one-hour sessions", func(t *testing.T) {
		ops := rolesByDescription(tmpl, "GitLab CI scheduled jobs")
		deploy := rolesByDescription(tmpl, "GitLab CI (")
		if len(ops) != 1 || len(deploy) != 1 {
			t.Fatalf("%d ops roles, %d deploy roles, want one each", len(ops), len(deploy))
		}
		for _, o := range ops {
			for _, d := range deploy {
				got, _ := json.Marshal(o["AssumeRolePolicyDocument"])
				want, _ := json.Marshal(d["AssumeRolePolicyDocument"])
				if string(got) != string(want) {
					t.Errorf("ops trust\n%s\nwant the deploy role's\n%s", got, want)
				}
			}
			if o["MaxSessionDuration"] != float64(3600) {
				t.Errorf("ops MaxSessionDuration = %v, want 3600", o["MaxSessionDuration"])
			}
			if pols, _ := o["ManagedPolicyArns"].([]any); len(pols) != 1 || o["Policies"] != nil {
				t.Errorf("ops role has policies beyond its one managed policy: %v", o)
			}
		}
	})

	t.Run("THEN the ops policy only reads backups, unwraps backup data keys and reads the ledger's checkpoints and public keys", func(t *testing.T) {
		allowed := map[string]bool{"s3:ListBucket": true, "s3:GetObject": true, "kms:Decrypt": true,
			"s3:ListBucketVersions": true, "s3:GetObjectRetention": true, "kms:GetPublicKey": true}
		sids := map[string]bool{}
		for _, st := range policyStatements(t, tmpl, "RolesOpsPolicy") {
			sids[fmt.Sprint(st["Sid"])] = true
			if st["Effect"] != "Allow" {
				t.Errorf("unexpected statement %v", st)
			}
			for _, a := range strs(st["Action"]) {
				if !allowed[a] {
					t.Errorf("ops action %q is not needed by caro backup list/verify", a)
				}
			}
			res := strs(st["Resource"])
			for _, r := range res {
				if r == "*" {
					t.Errorf("statement %v grants on every resource", st["Sid"])
				}
			}
			cond, _ := json.Marshal(st["Condition"])
			switch st["Sid"] {
			case "ListBackups":
				if len(res) != 2 || res[0] != "arn:aws:s3:::caro-backups-eu-west-1" || !strings.Contains(string(cond), `"s3:prefix":"backups/*"`) {
					t.Errorf("list %v with %s, want the backup buckets under backups/ only", res, cond)
				}
			case "ReadBackups":
				if len(res) != 2 || res[0] != "arn:aws:s3:::caro-backups-eu-west-1/backups/*" || res[1] != "arn:aws:s3:::caro-journal-eu-west-1/backups/*" {
					t.Errorf("read %v, want only the backups/ prefix of the backup buckets", res)
				}
			case "BucketEncryptionViaS3":
				want := `{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/caro/replica"},"StringEquals":{"kms:ViaService":["s3.eu-west-1.amazonaws.com","s3.eu-central-1.amazonaws.com"]}}`
				if string(cond) != want {
					t.Errorf("bucket key condition %s, want %s", cond, want)
				}
			case "UnwrapBackupDataKeys":
				if strings.Join(res, ",") != "arn:aws:kms:eu-west-1:111111111111:key/mrk-*,arn:aws:kms:eu-central-1:111111111111:key/mrk-*" {
					t.Errorf("unwrap with %v, want the multi-Region keys of the platform regions", res)
				}
				want := `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["caro:purpose","caro:backup-id","caro:source-region"]},` +
					`"StringEquals":{"kms:EncryptionContext:caro:purpose":"backup","kms:EncryptionContext:caro:source-region":["eu-west-1","eu-central-1"]}}`
				if string(cond) != want {
					t.Errorf("unwrap condition %s, want %s", cond, want)
				}
			case "ListLedgerCheckpoints", "ReadLedgerCheckpoints", "LedgerCheckpointDecryptionViaS3":
				// caro audit verify: the on-call role's read of the checkpoints, the same statements.
				if !slices.ContainsFunc(policyStatements(t, tmpl, "RolesOnCallFailoverPolicy"), func(o map[string]any) bool { return reflect.DeepEqual(o, st) }) {
					t.Errorf("ops statement %v differs from the on-call role's read of the checkpoints", st["Sid"])
				}
			case "ReadLedgerPublicKeys":
				want := `{"StringEquals":{"kms:KeySpec":"ECC_NIST_P256","kms:KeyUsage":"SIGN_VERIFY"}}`
				if string(cond) != want || strings.Join(res, ",") != "arn:aws:kms:eu-west-1:111111111111:key/*,arn:aws:kms:eu-central-1:111111111111:key/*" {
					t.Errorf("public keys of %v with %s, want the platform regions' keys with %s", res, cond, want)
				}
			default:
				t.Errorf("unexpected ops statement %v", st["Sid"])
			}
		}
		if len(sids) != 8 {
			t.Errorf("ops statements %v, want ListBackups, ReadBackups, BucketEncryptionViaS3, UnwrapBackupDataKeys, "+
				"ListLedgerCheckpoints, ReadLedgerCheckpoints, LedgerCheckpointDecryptionViaS3, ReadLedgerPublicKeys", sids)
		}
	})

	t.Run("THEN cdk-nag has no unsuppressed finding", func(t *testing.T) {
		if f := nagcheck.Findings(stack); len(f) != 0 {
			t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

func TestExistingProviderAndExplicitPrincipals(t *testing.T) {
	// GIVEN an account that already has the GitLab provider, a self-managed GitLab whose sub claim
	// carries ref_protected, and named on-call users
	p := props()
	p.GitLabURL = "https://gitlab.example.nl/"
	p.ExistingProviderArn = "arn:aws:iam::111111111111:oidc-provider/gitlab.example.nl"
	p.Audience = "caro-deploy"
	p.ProtectedBranches = []string{"main", "release"}
	p.SubIncludesRefProtected = true
	p.OnCallPrincipalArns = []string{"arn:aws:iam::111111111111:role/oncall-engineers"}
	p.HealthCheckIDs = []string{"hc-1"}

	// WHEN the roles are synthesized
	_, tmpl := synth(t, p)

	// THEN no provider is created, the trust uses the given issuer, audience and both branches, and
	// the sub claim must say the ref is protected (for the deploy and the ops role alike)
	tmpl.ResourceCountIs(jsii.String("AWS::IAM::OIDCProvider"), jsii.Number(0))
	if ops := rolesByDescription(tmpl, "GitLab CI scheduled jobs"); len(ops) != 1 {
		t.Fatalf("%d ops roles", len(ops))
	} else {
		for _, o := range ops {
			trust, _ := json.Marshal(o["AssumeRolePolicyDocument"])
			if !strings.Contains(string(trust), `"project_path:carohealth/platform:ref_type:branch:ref:release:ref_protected:true"`) ||
				!strings.Contains(string(trust), `"gitlab.example.nl:aud":"caro-deploy"`) {
				t.Errorf("ops trust %s", trust)
			}
		}
	}
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
		"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
			"Action": "sts:AssumeRoleWithWebIdentity",
			"Condition": map[string]any{"StringEquals": map[string]any{
				"gitlab.example.nl:aud": "caro-deploy",
				"gitlab.example.nl:sub": []any{
					"project_path:carohealth/platform:ref_type:branch:ref:main:ref_protected:true",
					"project_path:carohealth/platform:ref_type:branch:ref:release:ref_protected:true",
				},
			}},
			"Effect":    "Allow",
			"Principal": map[string]any{"Federated": "arn:aws:iam::111111111111:oidc-provider/gitlab.example.nl"},
		}}},
	})
	// AND only the named on-call principal may assume the failover role, health checks are named
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
		"AssumeRolePolicyDocument": map[string]any{"Statement": []any{assertions.Match_ObjectLike(&map[string]any{
			"Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:role/oncall-engineers"},
		})}},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Sid": "HealthChecks", "Resource": "arn:aws:route53:::healthcheck/hc-1"}),
		})},
	})
}

func TestNoBackupKeyReplicaYet(t *testing.T) {
	// GIVEN no backup key replica is known yet (first deploy, before -c backupKeyArn:<peer>)
	p := props()
	p.BackupKeyArns = nil

	// WHEN the roles are synthesized
	stack, tmpl := synth(t, p)

	// THEN the on-call role may decrypt no backup data key at all (no pattern stands in for the
	// unknown key), still uses the buckets' key only through S3, and cdk-nag stays clean
	for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
		switch st["Sid"] {
		case "DecryptBackups", "DescribeBackupKeys":
			t.Errorf("statement %v without a backup key", st["Sid"])
		}
		for _, r := range strs(st["Resource"]) {
			if strings.Contains(r, ":kms:") && st["Sid"] != "BucketEncryptionViaS3" && st["Sid"] != "LedgerCheckpointDecryptionViaS3" {
				t.Errorf("statement %v names KMS key %s", st["Sid"], r)
			}
		}
	}
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestInvalidProps(t *testing.T) {
	for name, mutate := range map[string]func(*roles.Props){
		"no account":          func(p *roles.Props) { p.Account = "" },
		"wildcard project":    func(p *roles.Props) { p.ProjectPath = "carohealth/*" },
		"no branches":         func(p *roles.Props) { p.ProtectedBranches = nil },
		"wildcard branch":     func(p *roles.Props) { p.ProtectedBranches = []string{"release/*"} },
		"no deploy regions":   func(p *roles.Props) { p.DeployRegions = nil },
		"no platform regions": func(p *roles.Props) { p.PlatformRegions = nil },
		"no zone":             func(p *roles.Props) { p.HostedZoneID = "" },
		"wildcard backup key": func(p *roles.Props) { p.BackupKeyArns = []string{"arn:aws:kms:eu-west-1:111111111111:key/*"} },
		"backup key alias": func(p *roles.Props) {
			p.BackupKeyArns = []string{"arn:aws:kms:eu-west-1:111111111111:alias/caro/backup"}
		},
		"no pool tag":         func(p *roles.Props) { p.UserPoolTagKey = "" },
		"no pool tag value":   func(p *roles.Props) { p.UserPoolTagValue = "" },
		"no bucket key alias": func(p *roles.Props) { p.BackupBucketKeyAlias = "" },
		"prefixed alias":      func(p *roles.Props) { p.BackupBucketKeyAlias = "alias/caro/replica" },
		"wildcard alias":      func(p *roles.Props) { p.BackupBucketKeyAlias = "caro/*" },
		"no ledger replicas":  func(p *roles.Props) { p.LedgerReplicaBucketArns = nil },
		"wildcard ledger replica": func(p *roles.Props) {
			p.LedgerReplicaBucketArns = []string{"arn:aws:s3:::caro-ledger-replica-*"}
		},
		"ledger replica with a key": func(p *roles.Props) {
			p.LedgerReplicaBucketArns = []string{"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1/checkpoints/*"}
		},
		"ledger replica not an ARN": func(p *roles.Props) {
			p.LedgerReplicaBucketArns = []string{"caro-ledger-replica-111111111111-eu-west-1"}
		},
		"no ledger key alias":       func(p *roles.Props) { p.LedgerReplicaKeyAlias = "" },
		"prefixed ledger key alias": func(p *roles.Props) { p.LedgerReplicaKeyAlias = "alias/caro/replica" },
		"no own ledger buckets":     func(p *roles.Props) { p.LedgerBucketArns = nil },
		"wildcard own ledger bucket": func(p *roles.Props) {
			p.LedgerBucketArns = []string{"arn:aws:s3:::caro-ledger-*"}
		},
		"own ledger bucket with a key": func(p *roles.Props) {
			p.LedgerBucketArns = []string{"arn:aws:s3:::caro-ledger-111111111111-eu-west-1/checkpoints/*"}
		},
		"no own ledger bucket key alias":       func(p *roles.Props) { p.LedgerBucketKeyAlias = "" },
		"prefixed own ledger bucket key alias": func(p *roles.Props) { p.LedgerBucketKeyAlias = "alias/caro/platform" },
		"wildcard own ledger bucket key alias": func(p *roles.Props) { p.LedgerBucketKeyAlias = "caro/*" },
		"release buckets without a prefix": func(p *roles.Props) {
			p.ReleaseBucketArns = []string{"arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1"}
		},
		"release prefix without a slash": func(p *roles.Props) {
			p.ReleaseBucketArns, p.ReleasePrefix = []string{"arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1"}, "caro-releases"
		},
		"wildcard release prefix": func(p *roles.Props) {
			p.ReleaseBucketArns, p.ReleasePrefix = []string{"arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1"}, "caro-*/"
		},
		"wildcard release bucket": func(p *roles.Props) {
			p.ReleaseBucketArns, p.ReleasePrefix = []string{"arn:aws:s3:::cdk-*"}, "caro-releases/"
		},
		"release bucket with a key": func(p *roles.Props) {
			p.ReleaseBucketArns, p.ReleasePrefix = []string{"arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1/caro-releases/*"}, "caro-releases/"
		},
	} {
		t.Run("GIVEN "+name+" THEN Validate refuses", func(t *testing.T) {
			p := props()
			mutate(p)
			if err := p.Validate(); err == nil {
				t.Fatal("Validate accepted invalid props")
			}
		})
	}
}

func TestOnCallRecoversTheLedger(t *testing.T) {
	// GIVEN the ledger checkpoint replicas of both platform regions, encrypted with the replica key,
	// and both regions' own checkpoint buckets, encrypted with the platform key (a failback reads
	// the target's own bucket beside its replica of the peer's)
	p := props()

	// WHEN the roles are synthesized
	stack, tmpl := synth(t, p)

	// THEN the on-call role lists object versions of those buckets, only under checkpoints/ (what
	// internal/ledger's CheckpointBucket.ListCheckpoints asks)
	onCall := func(statement map[string]any) {
		t.Helper()
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
			"Description":    "Only the calls of the failover steps, on the platform's own resources",
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{statement})},
		})
	}
	onCall(map[string]any{
		"Sid": "ListLedgerCheckpoints", "Effect": "Allow", "Action": "s3:ListBucketVersions",
		"Resource": []any{"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1", "arn:aws:s3:::caro-ledger-replica-111111111111-eu-central-1",
			"arn:aws:s3:::caro-ledger-111111111111-eu-west-1", "arn:aws:s3:::caro-ledger-111111111111-eu-central-1"},
		"Condition": map[string]any{"StringEquals": map[string]any{"s3:prefix": "checkpoints/"}},
	})
	// AND reads the checkpoints and their Object Lock retention, current versions only
	onCall(map[string]any{
		"Sid": "ReadLedgerCheckpoints", "Effect": "Allow", "Action": []any{"s3:GetObject", "s3:GetObjectRetention"},
		"Resource": []any{
			"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1/checkpoints/*",
			"arn:aws:s3:::caro-ledger-replica-111111111111-eu-central-1/checkpoints/*",
			"arn:aws:s3:::caro-ledger-111111111111-eu-west-1/checkpoints/*",
			"arn:aws:s3:::caro-ledger-111111111111-eu-central-1/checkpoints/*",
		},
	})
	// AND decrypts them only through S3 in the platform regions, only with the replica key's or the
	// platform key's alias, and only for objects of the ledger buckets (bucket ARN: S3 Bucket Keys;
	// object ARN: without)
	onCall(map[string]any{
		"Sid": "LedgerCheckpointDecryptionViaS3", "Effect": "Allow", "Action": "kms:Decrypt",
		"Resource": []any{"arn:aws:kms:eu-west-1:111111111111:key/*", "arn:aws:kms:eu-central-1:111111111111:key/*"},
		"Condition": map[string]any{
			"StringEquals":             map[string]any{"kms:ViaService": []any{"s3.eu-west-1.amazonaws.com", "s3.eu-central-1.amazonaws.com"}},
			"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": []any{"alias/caro/replica", "alias/caro/platform"}},
			"StringLike": map[string]any{"kms:EncryptionContext:aws:s3:arn": []any{
				"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1",
				"arn:aws:s3:::caro-ledger-replica-111111111111-eu-west-1/checkpoints/*",
				"arn:aws:s3:::caro-ledger-replica-111111111111-eu-central-1",
				"arn:aws:s3:::caro-ledger-replica-111111111111-eu-central-1/checkpoints/*",
				"arn:aws:s3:::caro-ledger-111111111111-eu-west-1",
				"arn:aws:s3:::caro-ledger-111111111111-eu-west-1/checkpoints/*",
				"arn:aws:s3:::caro-ledger-111111111111-eu-central-1",
				"arn:aws:s3:::caro-ledger-111111111111-eu-central-1/checkpoints/*",
			}},
		},
	})
	// AND nothing else touches the ledger buckets: no write, no other version, no plain listing
	for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
		res := strings.Join(strs(st["Resource"]), ",")
		if !strings.Contains(res, "caro-ledger-") {
			continue
		}
		switch st["Sid"] {
		case "ListLedgerCheckpoints", "ReadLedgerCheckpoints":
		default:
			t.Errorf("statement %v also grants on the ledger buckets: %v", st["Sid"], st["Action"])
		}
		for _, a := range strs(st["Action"]) {
			switch a {
			case "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectRetention":
			default:
				t.Errorf("%s on the ledger buckets (statement %v)", a, st["Sid"])
			}
		}
	}
	// AND cdk-nag stays clean
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestOnCallReadsTheReleases(t *testing.T) {
	// GIVEN each platform region's release bucket and the prefix the releases live under
	p := props()
	p.ReleaseBucketArns = []string{"arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-west-1", "arn:aws:s3:::cdk-hnb659fds-assets-111111111111-eu-central-1"}
	p.ReleasePrefix = "caro-releases/"
	// WHEN the roles are synthesized
	stack, tmpl := synth(t, p)
	// THEN the on-call role may list that prefix and read the objects under it (the manifests and
	// templates: the plan reads them and CloudFormation reads the template of the deploy step's
	// change set with the caller's permissions), in every region's bucket
	var list, read map[string]any
	for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
		switch st["Sid"] {
		case "ListReleases":
			list = st
		case "ReadReleases":
			read = st
		}
	}
	if list == nil || strings.Join(strs(list["Action"]), ",") != "s3:ListBucket" ||
		strings.Join(strs(list["Resource"]), ",") != strings.Join(p.ReleaseBucketArns, ",") ||
		fmt.Sprint(list["Condition"]) != "map[StringLike:map[s3:prefix:caro-releases/*]]" {
		t.Errorf("ListReleases = %v", list)
	}
	if read == nil || strings.Join(strs(read["Action"]), ",") != "s3:GetObject" ||
		strings.Join(strs(read["Resource"]), ",") != p.ReleaseBucketArns[0]+"/caro-releases/*,"+p.ReleaseBucketArns[1]+"/caro-releases/*" {
		t.Errorf("ReadReleases = %v", read)
	}
	// AND nothing else of those buckets (the assets beside the releases, or writing anything)
	for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
		for _, r := range strs(st["Resource"]) {
			if strings.Contains(r, "cdk-hnb659fds-assets") && st["Sid"] != "ListReleases" && st["Sid"] != "ReadReleases" {
				t.Errorf("statement %v also names %s", st["Sid"], r)
			}
		}
	}
	// AND the deploy and ops roles get nothing of them
	for _, prefix := range []string{"RolesDeployPolicy", "RolesOpsPolicy"} {
		for _, st := range policyStatements(t, tmpl, prefix) {
			if strings.Contains(fmt.Sprint(st["Resource"]), "caro-releases") {
				t.Errorf("%s: %v", prefix, st)
			}
		}
	}
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
