package readiness_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/readiness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

const (
	backupBucket = "arn:aws:s3:::caro-backup-replica-123456789012-eu-central-1"
	releaseBase  = "arn:aws:s3:::cdk-hnb659fds-assets-123456789012-eu-central-1/caro-releases/"
)

// standby is a standby region's stack with the function and what the check reads.
func standby() (awscdk.Stack, *readiness.Props) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Standby"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-central-1")},
	})
	nagcheck.Apply(stack)
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	fn := awslambda.NewFunction(stack, jsii.String("Fn"), &awslambda.FunctionProps{Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => {}")), Role: role})
	key := awskms.NewKey(stack, jsii.String("PlatformKey"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
	onCall := awssns.Topic_FromTopicArn(stack, jsii.String("OnCall"), jsii.String("arn:aws:sns:eu-central-1:123456789012:oncall"))
	return stack, &readiness.Props{
		Function: fn, Region: "eu-central-1", SourceRegion: "eu-west-1", Account: "123456789012", AlarmTopic: onCall,
		StackArns:             []string{"arn:aws:cloudformation:eu-central-1:123456789012:stack/CaroPlatform-eu-central-1/abc", "arn:aws:cloudformation:eu-west-1:123456789012:stack/CaroPlatform-eu-west-1/*"},
		ConnectionSecretArn:   jsii.String("arn:aws:secretsmanager:eu-central-1:123456789012:secret:caro/eu-central-1/mongodb-uri-AbCdEf"),
		ConnectionSecretKey:   key,
		ManagedKeySecretNames: []string{"caro/edge/origin-verify", "cfn/atlas/profile/default"},
		ParameterNames:        []string{"/caro/peers/eu-west-1/backup-key-arn", "/caro/peers/eu-west-1/ledger-public-keys"},
		BackupKeyTagKey:       "caro:backup-key", BackupKeyTagValue: "platform",
		BackupBucketArn: backupBucket, BackupBucketKeyAlias: "caro/replica",
		CheckpointBucketArns: []string{"arn:aws:s3:::caro-ledger-replica-123456789012-eu-central-1", "arn:aws:s3:::caro-ledger-123456789012-eu-west-1"},
		ReleaseObjectArns:    []string{releaseBase + "*/release.json", releaseBase + "*/CaroPlatform-eu-central-1.template.json"},
		UserPoolArn:          jsii.String("arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_abc"),
		HealthCheckID:        jsii.String("hc-1234"),
	}
}

// statement matches the policy statement sid with exactly these actions.
func statement(sid string, actions interface{}, rest map[string]interface{}) interface{} {
	m := map[string]interface{}{"Sid": sid, "Action": actions, "Effect": "Allow"}
	for k, v := range rest {
		m[k] = v
	}
	return assertions.Match_ObjectLike(&m)
}

func TestReadinessRunsEveryHalfHourAndPagesOnABlockerOrSilence(t *testing.T) {
	// GIVEN the standby's stack with the readiness function and the on-call topic
	stack, props := standby()
	// WHEN the check is declared
	readiness.New(stack, "Readiness", props)
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the function learns which region it would take over from
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Environment": map[string]interface{}{"Variables": map[string]interface{}{readiness.EnvSource: "eu-west-1"}},
	})
	// AND it runs every 30 minutes, a missed run made up by the next, not retried over it
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "rate(30 minutes)", "State": "ENABLED",
		"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"RetryPolicy": map[string]interface{}{"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 1800},
		})},
	})
	// AND a blocker in the hour (two runs) pages on-call, and so does an hour without any report
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"Namespace": readiness.Namespace, "MetricName": readiness.MetricBlockers,
		"Dimensions": []interface{}{map[string]interface{}{"Name": readiness.DimensionRegion, "Value": "eu-central-1"}},
		"Statistic":  "Maximum", "Period": 3600, "EvaluationPeriods": 1, "Threshold": 1,
		"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching",
		"AlarmActions": []interface{}{"arn:aws:sns:eu-central-1:123456789012:oncall"},
		"OKActions":    []interface{}{"arn:aws:sns:eu-central-1:123456789012:oncall"},
	})
	// AND the construct is nag clean
	if f := nagcheck.FindingsUnder(stack, "/Standby/Readiness"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestReadinessMayReadExactlyWhatThePlanReads(t *testing.T) {
	// GIVEN the standby's stack WHEN the check is declared
	stack, props := standby()
	r := readiness.New(stack, "Readiness", props)
	tpl := assertions.Template_FromStack(stack, nil)
	policy := *stack.GetLogicalId(r.Policy.Node().DefaultChild().(awscdk.CfnElement))

	// THEN its policy, attached to the function's role, holds one read per statement, on the
	// exact resources
	for _, want := range []interface{}{
		statement("ReadPlatformStackOutputs", "cloudformation:DescribeStacks", map[string]interface{}{"Resource": props.StackArns}),
		statement("ReadConnectionSecret", "secretsmanager:GetSecretValue", map[string]interface{}{"Resource": *props.ConnectionSecretArn}),
		statement("ConnectionSecretDecryptionViaSecretsManager", "kms:Decrypt", map[string]interface{}{
			"Resource": map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("^PlatformKey")), "Arn"}},
			"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{
				"kms:ViaService": "secretsmanager.eu-central-1.amazonaws.com", "kms:EncryptionContext:SecretARN": *props.ConnectionSecretArn,
			}},
		}),
		statement("ReadManagedKeySecrets", "secretsmanager:GetSecretValue", map[string]interface{}{"Resource": []interface{}{
			"arn:aws:secretsmanager:eu-central-1:123456789012:secret:caro/edge/origin-verify-??????",
			"arn:aws:secretsmanager:eu-central-1:123456789012:secret:cfn/atlas/profile/default-??????",
		}}),
		statement("ReadPeerParameters", "ssm:GetParameter", map[string]interface{}{"Resource": []interface{}{
			"arn:aws:ssm:eu-central-1:123456789012:parameter/caro/peers/eu-west-1/backup-key-arn",
			"arn:aws:ssm:eu-central-1:123456789012:parameter/caro/peers/eu-west-1/ledger-public-keys",
		}}),
		statement("DescribeBackupKeyReplica", "kms:DescribeKey", map[string]interface{}{
			"Resource":  "arn:aws:kms:eu-central-1:123456789012:key/mrk-*",
			"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"aws:ResourceTag/caro:backup-key": "platform"}},
		}),
		statement("ListBackups", "s3:ListBucket", map[string]interface{}{
			"Resource": backupBucket, "Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "backups/"}},
		}),
		statement("ReadBackupManifests", "s3:GetObject", map[string]interface{}{"Resource": backupBucket + "/backups/*/manifest.json"}),
		statement("BackupManifestDecryptionViaS3", "kms:Decrypt", map[string]interface{}{
			"Resource": "arn:aws:kms:eu-central-1:123456789012:key/*",
			"Condition": map[string]interface{}{
				"StringEquals":             map[string]interface{}{"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
				"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/caro/replica"},
				"StringLike":               map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": []interface{}{backupBucket, backupBucket + "/backups/*/manifest.json"}},
			},
		}),
		statement("ListLedgerCheckpoints", "s3:ListBucket", map[string]interface{}{
			"Resource":  props.CheckpointBucketArns,
			"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "checkpoints/"}},
		}),
		statement("ReadRelease", "s3:GetObject", map[string]interface{}{"Resource": props.ReleaseObjectArns}),
		statement("DescribeUserPool", "cognito-idp:DescribeUserPool", map[string]interface{}{"Resource": *props.UserPoolArn}),
		statement("ReadHealthCheckStatus", "route53:GetHealthCheckStatus", map[string]interface{}{"Resource": "arn:aws:route53:::healthcheck/hc-1234"}),
		statement("PublishReadiness", "cloudwatch:PutMetricData", map[string]interface{}{
			"Resource": "*", "Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"cloudwatch:namespace": readiness.Namespace}},
		}),
	} {
		tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
			"Roles":          []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^Role"))}},
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{want})}),
		})
	}
	// AND nothing else: no write but its own metrics, no wildcard action
	doc := *(*tpl.FindResources(jsii.String("AWS::IAM::ManagedPolicy"), nil))[policy]
	statements := doc["Properties"].(map[string]interface{})["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{})
	if len(statements) != 14 {
		t.Errorf("%d statements, want the 14 above", len(statements))
	}
	for _, s := range statements {
		actions, ok := s.(map[string]interface{})["Action"].([]interface{})
		if !ok {
			actions = []interface{}{s.(map[string]interface{})["Action"]}
		}
		for _, a := range actions {
			text, _ := a.(string)
			if strings.Contains(text, "*") || strings.Contains(text, "Put") && text != "cloudwatch:PutMetricData" {
				t.Errorf("statement %v: action %s", s.(map[string]interface{})["Sid"], text)
			}
		}
	}
}

func TestReadinessDescribesTheExactReplicaWhenItsArnIsKnown(t *testing.T) {
	// GIVEN the replica's ARN (context backupKeyArn:<source>) WHEN the check is declared
	stack, props := standby()
	props.BackupKeyReplicaArn = jsii.String("arn:aws:kms:eu-central-1:123456789012:key/mrk-1111")
	readiness.New(stack, "Readiness", props)
	// THEN it describes that key alone, with no tag condition
	assertions.Template_FromStack(stack, nil).HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "DescribeBackupKeyReplica", "Resource": "arn:aws:kms:eu-central-1:123456789012:key/mrk-1111",
				"Condition": assertions.Match_Absent()}),
		})}),
	})
}

func TestReadinessRefusesIncompleteProps(t *testing.T) {
	// GIVEN props missing what the check needs WHEN declared THEN it panics naming what to give
	for name, change := range map[string]func(p *readiness.Props){
		"no function":         func(p *readiness.Props) { p.Function = nil },
		"no topic":            func(p *readiness.Props) { p.AlarmTopic = nil },
		"the same region":     func(p *readiness.Props) { p.SourceRegion = p.Region },
		"no backup bucket":    func(p *readiness.Props) { p.BackupBucketArn = "" },
		"no key or tag":       func(p *readiness.Props) { p.BackupKeyTagKey = "" },
		"no health check":     func(p *readiness.Props) { p.HealthCheckID = nil },
		"no stacks":           func(p *readiness.Props) { p.StackArns = nil },
		"no secret key":       func(p *readiness.Props) { p.ConnectionSecretKey = nil },
		"no bucket key alias": func(p *readiness.Props) { p.BackupBucketKeyAlias = "" },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmtValue(r), "readiness.New") {
					t.Errorf("%s: recovered %v", name, r)
				}
			}()
			stack, props := standby()
			change(props)
			readiness.New(stack, "Readiness", props)
		}()
	}
}

func fmtValue(v interface{}) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	s, _ := v.(string)
	return s
}
