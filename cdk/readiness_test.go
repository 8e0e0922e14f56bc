package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/constructs/readiness"
	"github.com/carohealth/platform/internal/config"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
	ireadiness "github.com/carohealth/platform/internal/readiness"
	"github.com/carohealth/platform/internal/release"
	"github.com/carohealth/platform/regions"
)

func TestReadinessRunsInTheStandbyOnly(t *testing.T) {
	// GIVEN the whole app
	pa := platformApp(t)
	for _, p := range pa.Platforms {
		tpl := templateOf(t, p.Stack)
		def, err := pa.Regions.Get(*p.Region())
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for id, r := range tpl.Resources {
			if r.Type == "AWS::Lambda::Function" && strings.HasPrefix(stringOf(r.Properties["Description"]), "Readiness check") {
				found = append(found, id)
			}
		}
		// WHEN the primary's stack is synthesized THEN it has no readiness check: it takes over from nobody
		if def.Primary {
			if len(found) != 0 {
				t.Errorf("%s (primary) has a readiness function", *p.StackName())
			}
			continue
		}
		// WHEN the standby's is THEN its readiness function checks the primary, one run at a time,
		// for at most two minutes
		if len(found) != 1 {
			t.Fatalf("%s: %d readiness functions, want 1", *p.StackName(), len(found))
		}
		fn := tpl.Resources[found[0]]
		vars := mapOf(mapOf(fn.Properties["Environment"])["Variables"])
		if vars["CARO_REGION"] != def.Region || vars[readiness.EnvSource] != pa.Regions.Primary().Region {
			t.Errorf("%s: environment %v", *p.StackName(), vars)
		}
		if fn.Properties["ReservedConcurrentExecutions"] != 1.0 || fn.Properties["Timeout"] != 120.0 {
			t.Errorf("%s: reserved %v, timeout %v; want 1 and 120 s", *p.StackName(), fn.Properties["ReservedConcurrentExecutions"], fn.Properties["Timeout"])
		}
		// AND a rule invokes it every 30 minutes
		a := assertions.Template_FromStack(p.Stack, nil)
		a.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
			"ScheduleExpression": "rate(30 minutes)",
			"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Arn": map[string]interface{}{"Fn::GetAtt": []interface{}{found[0], "Arn"}},
			})},
		})
		// AND a blocker, or an hour without a report, pages the region's on-call topic
		a.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
			"Namespace": ireadiness.Namespace, "MetricName": ireadiness.MetricBlockers, "Threshold": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching",
			"Dimensions":   []interface{}{map[string]interface{}{"Name": ireadiness.DimensionRegion, "Value": def.Region}},
			"AlarmActions": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^MonitoringOnCall"))}},
		})
	}
}

// TestReadinessMayMakeEveryReadOfAFailoverPlan follows, for each read the scheduled check makes
// (internal/readiness through internal/providers/aws and internal/config/awscloud), the
// permissions AWS documents, on both sides where the resource has a policy:
//   - https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html
//     (DescribeStacks on the stack)
//   - https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
//     (GetSecretValue on the secret; kms:Decrypt of a customer key through Secrets Manager with the
//     secret's ARN as encryption context; the aws/secretsmanager key's policy lets the account use it)
//   - https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
//     (ssm:GetParameter on the parameter; String parameters need no key)
//   - https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-auth.html and
//     https://docs.aws.amazon.com/kms/latest/developerguide/tag-authorization.html (DescribeKey of
//     the replica, by the tag the peer's share gives it)
//   - https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (s3:ListBucket),
//     https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (s3:GetObject) and
//     https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (kms:Decrypt of
//     an SSE-KMS object's key, asked by S3 with the caller's permission; listing decrypts nothing)
//   - https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncognitouserpools.html
//     (DescribeUserPool on the userpool)
//   - https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/r53-api-permissions-ref.html
//     (GetHealthCheckStatus on the healthcheck)
//   - https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html
//     (PutMetricData, narrowed by cloudwatch:namespace)
//   - https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html (the account:
//     no permission is required)
//
// and that it may write nothing else.
func TestReadinessMayMakeEveryReadOfAFailoverPlan(t *testing.T) {
	av := newAppView(t)
	pa := platformApp(t)
	primary := pa.Regions.Primary().Region
	checked := 0
	for _, p := range pa.Platforms {
		def, _ := pa.Regions.Get(*p.Region())
		if def.Primary {
			continue
		}
		s := av.stack(t, *p.StackName())
		region := s.region
		fn := functionByDescription(t, s.tpl, "Readiness check")
		role := refOf(s.tpl.Resources[fn].Properties, "Role")
		principal := s.getAtt(role, "Arn")
		identity := s.identityStatements(role)
		arn := func(service, region, resource string) string {
			return "arn:aws:" + service + ":" + region + ":" + testAccount + ":" + resource
		}
		tls := map[string][]string{"aws:SecureTransport": {"true"}}
		with := func(extra map[string][]string) map[string][]string {
			out := map[string][]string{"aws:SecureTransport": {"true"}}
			for k, v := range extra {
				out[k] = v
			}
			return out
		}
		may := func(what, action, resource string, ctx map[string][]string) {
			t.Helper()
			checked++
			if !allows(identity, request{principal: principal, action: action, resource: resource, context: ctx}, false) {
				t.Errorf("%s: the readiness function may not %s %s (%s)", s.name, action, resource, what)
			}
		}
		mayNot := func(what, action, resource string, ctx map[string][]string) {
			t.Helper()
			if allows(identity, request{principal: principal, action: action, resource: resource, context: ctx}, false) {
				t.Errorf("%s: the readiness function may %s %s (%s)", s.name, action, resource, what)
			}
		}
		// The bucket's own policy must not refuse what the identity policy allows.
		bucketAgrees := func(bucket, action, resource string, ctx map[string][]string) {
			t.Helper()
			bs, id := av.bucketNamed(bucket)
			if bs == nil {
				t.Errorf("bucket %s is not in the app", bucket)
				return
			}
			if decision(bs.bucketPolicy(id), request{principal: principal, action: action, resource: resource, context: ctx}, true) == "deny" {
				t.Errorf("%s: the policy of bucket %s refuses the readiness function %s", s.name, bucket, action)
			}
		}

		// The configuration: both platform stacks' outputs, the secrets, the peer's parameters.
		may("own stack outputs", "cloudformation:DescribeStacks", s.resolve(map[string]interface{}{"Ref": "AWS::StackId"}), nil)
		may("the source stack's outputs (its release)", "cloudformation:DescribeStacks", arn("cloudformation", primary, "stack/CaroPlatform-"+primary+"/"+testStackUUID), nil)
		mayNot("another stack", "cloudformation:DescribeStacks", arn("cloudformation", region, "stack/CaroEdge/"+testStackUUID), nil)
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::SecretsManager::Secret" || s.resolve(r.Properties["Name"]) != ConnectionSecretName(region) {
				continue
			}
			secret := s.getAtt(id, "Arn")
			may("the target database's connection string", "secretsmanager:GetSecretValue", secret, nil)
			mayNot("changing it", "secretsmanager:PutSecretValue", secret, nil)
			key := refOf(r.Properties, "KmsKeyId")
			decrypt := request{principal: principal, action: "kms:Decrypt", resource: s.keyArn(key), context: map[string][]string{
				"kms:ViaService": {"secretsmanager." + region + ".amazonaws.com"}, "kms:EncryptionContext:SecretARN": {secret},
				"kms:ResourceAliases": av.keyAliases[s.keyArn(key)],
			}}
			checked++
			if !allows(identity, decrypt, false) || !allows(s.keyPolicy(key), decrypt, true) {
				t.Errorf("%s: the readiness function may not decrypt %s with key %s through Secrets Manager", s.name, secret, key)
			}
		}
		may("the origin secret's replica", "secretsmanager:GetSecretValue", arn("secretsmanager", region, "secret:caro/edge/origin-verify-AbCdEf"), nil)
		may("the Atlas credentials", "secretsmanager:GetSecretValue", arn("secretsmanager", region, "secret:"+AtlasCredentialsSecretName+"-AbCdEf"), nil)
		mayNot("another secret", "secretsmanager:GetSecretValue", arn("secretsmanager", region, "secret:caro/"+primary+"/mongodb-uri-AbCdEf"), nil)
		for _, param := range []string{"/caro/peers/" + primary + "/backup-key-arn", "/caro/peers/" + primary + "/ledger-public-keys"} {
			may("what the source's stack wrote here", "ssm:GetParameter", arn("ssm", region, "parameter"+param), nil)
		}
		mayNot("another parameter", "ssm:GetParameter", arn("ssm", region, "parameter/caro/other"), nil)

		// The backup key's replica: described by its tag, never used.
		replica := arn("kms", region, "key/mrk-0123")
		tagged := map[string][]string{"aws:ResourceTag/caro:backup-key": {"platform"}}
		may("the backup key's replica", "kms:DescribeKey", replica, tagged)
		mayNot("an untagged multi-Region key", "kms:DescribeKey", replica, nil)
		mayNot("unwrapping a backup's data key", "kms:Decrypt", replica, with(map[string][]string{"kms:EncryptionContext:caro:purpose": {"backup"}, "aws:ResourceTag/caro:backup-key": {"platform"}}))

		// The backups: the listing and the manifests, through S3 with the replica stack's key.
		backups := ReplicaBucketName(replicaBackup, testAccount, region)
		list := with(map[string][]string{"s3:prefix": {"backups/"}})
		may("listing the backups", "s3:ListBucket", "arn:aws:s3:::"+backups, list)
		bucketAgrees(backups, "s3:ListBucket", "arn:aws:s3:::"+backups, list)
		manifest := "arn:aws:s3:::" + backups + "/backups/20250101T021500Z/manifest.json"
		may("a backup's manifest", "s3:GetObject", manifest, tls)
		bucketAgrees(backups, "s3:GetObject", manifest, tls)
		mayNot("a backup's payload", "s3:GetObject", "arn:aws:s3:::"+backups+"/backups/20250101T021500Z/data.bin", tls)
		mayNot("writing a backup", "s3:PutObject", manifest, tls)
		ks, keyID := av.keyByArn(ReplicaKeyArn(testAccount, region))
		if ks == nil {
			t.Fatalf("no replica key in %s", region)
		}
		key := ks.keyArn(keyID)
		decrypt := request{principal: principal, action: "kms:Decrypt", resource: key, context: map[string][]string{
			"kms:ViaService": {"s3." + region + ".amazonaws.com"}, "kms:ResourceAliases": av.keyAliases[key],
			"kms:EncryptionContext:aws:s3:arn": {"arn:aws:s3:::" + backups},
		}}
		checked++
		if !allows(identity, decrypt, false) || !allows(ks.keyPolicy(keyID), decrypt, true) {
			t.Errorf("%s: the readiness function may not decrypt the manifests with %s through S3", s.name, key)
		}
		other := decrypt
		other.context = map[string][]string{"kms:ViaService": {"s3." + region + ".amazonaws.com"}, "kms:ResourceAliases": av.keyAliases[key],
			"kms:EncryptionContext:aws:s3:arn": {ReplicaBucketArn(replicaLedger, testAccount, region)}}
		if allows(identity, other, false) {
			t.Errorf("%s: the readiness function may decrypt another bucket's objects with %s", s.name, key)
		}

		// The ledger's lag: listing checkpoints/ of the replica here and the source's own bucket.
		checkpoints := with(map[string][]string{"s3:prefix": {"checkpoints/"}})
		for _, b := range []string{ReplicaBucketName(replicaLedger, testAccount, region), LedgerBucketName(testAccount, primary)} {
			may("listing checkpoints", "s3:ListBucket", "arn:aws:s3:::"+b, checkpoints)
			bucketAgrees(b, "s3:ListBucket", "arn:aws:s3:::"+b, checkpoints)
			mayNot("reading a checkpoint", "s3:GetObject", "arn:aws:s3:::"+b+"/checkpoints/00000001.json", tls)
		}

		// The release the failover would deploy, from this region's release bucket.
		releases := "arn:aws:s3:::" + releaseBucketName(regions.Environment{}, testAccount, region) + "/" + release.Prefix
		may("the release manifest", "s3:GetObject", releases+"1.4.2/"+release.ManifestName, tls)
		may("this region's template", "s3:GetObject", releases+"1.4.2/CaroPlatform-"+region+".template.json", tls)
		mayNot("another stack's template", "s3:GetObject", releases+"1.4.2/CaroEdge.template.json", tls)
		mayNot("publishing a release", "s3:PutObject", releases+"1.4.2/"+release.ManifestName, tls)

		// The user pool, the health check, and the result.
		for id, r := range s.tpl.Resources {
			switch r.Type {
			case "AWS::Cognito::UserPool":
				may("the user pool", "cognito-idp:DescribeUserPool", s.getAtt(id, "Arn"), nil)
				mayNot("creating users", "cognito-idp:AdminCreateUser", s.getAtt(id, "Arn"), nil)
			case "AWS::Route53::HealthCheck":
				may("the health check's status", "route53:GetHealthCheckStatus", "arn:aws:route53:::healthcheck/"+s.getAtt(id, "HealthCheckId"), nil)
			}
		}
		may("its metrics", "cloudwatch:PutMetricData", "*", map[string][]string{"cloudwatch:namespace": {ireadiness.Namespace}})
		mayNot("other metrics", "cloudwatch:PutMetricData", "*", map[string][]string{"cloudwatch:namespace": {"AWS/Lambda"}})
	}
	if checked != 19 {
		t.Errorf("%d reads checked, want the 19 of the standby's check", checked)
	}
}

// TestOnCallReadsTheReleaseItDeploys follows
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html and
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, and for the deploy step
// https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
// (TemplateURL: CloudFormation reads the template with the caller's permissions): the on-call role
// lists the releases and reads their manifests and templates in every platform region's release
// bucket, and writes nothing there.
func TestOnCallReadsTheReleaseItDeploys(t *testing.T) {
	av := newAppView(t)
	edge := av.stack(t, "CaroEdge")
	checked := 0
	for id, r := range edge.tpl.Resources {
		if r.Type != "AWS::IAM::Role" || !strings.HasPrefix(stringOf(r.Properties["Description"]), "On-call failover") {
			continue
		}
		principal := edge.getAtt(id, "Arn")
		identity := edge.identityStatements(id)
		for _, p := range platformApp(t).Platforms {
			region := *p.Region()
			bucket := "arn:aws:s3:::" + releaseBucketName(regions.Environment{}, testAccount, region)
			tls := map[string][]string{"aws:SecureTransport": {"true"}}
			for _, req := range []request{
				{action: "s3:ListBucket", resource: bucket, context: map[string][]string{"s3:prefix": {release.Prefix}}},
				{action: "s3:GetObject", resource: bucket + "/" + release.ManifestKey("1.4.2"), context: tls},
				{action: "s3:GetObject", resource: bucket + "/" + release.TemplateKey("1.4.2", "CaroPlatform-"+region), context: tls},
			} {
				checked++
				req.principal = principal
				if !allows(identity, req, false) {
					t.Errorf("the on-call role may not %s %s", req.action, req.resource)
				}
			}
			for _, req := range []request{
				{action: "s3:PutObject", resource: bucket + "/" + release.ManifestKey("1.4.2"), context: tls},
				{action: "s3:ListBucket", resource: bucket, context: map[string][]string{"s3:prefix": {"assets/"}}},
				{action: "s3:GetObject", resource: bucket + "/0123abcd.zip", context: tls},
			} {
				req.principal = principal
				if allows(identity, req, false) {
					t.Errorf("the on-call role may %s %s", req.action, req.resource)
				}
			}
		}
	}
	if checked != 6 {
		t.Errorf("%d reads checked, want 3 in each of the 2 regions", checked)
	}
}

func TestPlatformStacksExportWhatTheFailoverReads(t *testing.T) {
	// GIVEN the whole app, synthesized as release "dev" (no version context)
	for _, p := range platformApp(t).Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		// THEN each platform stack exports the release it was synthesized as, under the name the
		// failover's release check reads
		tpl.HasOutput(jsii.String(awsprov.OutputRelease), map[string]interface{}{"Value": "dev"})
		// AND every output the AWS provider reads of a target stack, and the configuration's
		// backup-key setting, so the readiness check needs no parameter it may not read
		for _, name := range []string{awsprov.OutputUserPoolID, awsprov.OutputHealthCheckID, awsprov.OutputBackupBucket,
			awsprov.OutputOwnBackupBucket, awsprov.OutputOwnBackupKeyArn} {
			tpl.HasOutput(jsii.String(name), map[string]interface{}{"Value": assertions.Match_AnyValue()})
		}
	}
}

func TestReadinessNamesAgreeWithTheFunction(t *testing.T) {
	// GIVEN the names the construct alarms on and sets WHEN compared with what the function
	// publishes and reads THEN they are the same
	if readiness.Namespace != ireadiness.Namespace || readiness.MetricBlockers != ireadiness.MetricBlockers || readiness.DimensionRegion != ireadiness.DimensionRegion {
		t.Errorf("construct %s/%s/%s, function %s/%s/%s", readiness.Namespace, readiness.MetricBlockers, readiness.DimensionRegion,
			ireadiness.Namespace, ireadiness.MetricBlockers, ireadiness.DimensionRegion)
	}
	main, err := os.ReadFile(filepath.Join(gofunction.RepoRoot(), "lambdas", "readiness", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{`"CARO_REGION"`, `"` + readiness.EnvSource + `"`} {
		if !strings.Contains(string(main), env) {
			t.Errorf("lambdas/readiness/main.go does not read %s", env)
		}
	}
}

func TestReleaseNamesAgreeWithThePublisher(t *testing.T) {
	// GIVEN the prefix and bucket the app grants WHEN compared with where `caro release publish`
	// writes and what the configuration resolves THEN they are the same
	if releasePrefix != release.Prefix {
		t.Errorf("the app grants %q, releases live under %q", releasePrefix, release.Prefix)
	}
	for name, env := range map[string]regions.Environment{
		"the default (the CDK bootstrap bucket)": {Account: testAccount},
		"the environment file's bucket":          {Account: testAccount, ReleaseBucket: "caro-releases-{account}-{region}"},
	} {
		cfg, err := (&config.Loader{Env: func(string) (string, bool) { return "", false }, Environment: &env}).Load(t.Context(), "eu-central-1")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := releaseBucketName(env, testAccount, "eu-central-1"), cfg.String(t.Context(), config.KeyReleaseBucket); got != want {
			t.Errorf("%s: the app names %q, the configuration %q", name, got, want)
		}
	}
}
