package ledger_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestLedgerInfrastructure(t *testing.T) {
	// GIVEN a stack with a platform key, an access-log bucket, a writer function with its role, its
	// dead-letter queue and an alarm topic
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
	logs := awss3.NewBucket(stack, jsii.String("Logs"), &awss3.BucketProps{BucketName: jsii.String("caro-access-logs")})
	role := awsiam.NewRole(stack, jsii.String("WriterRole"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	writer := awslambda.Function_FromFunctionAttributes(stack, jsii.String("Writer"), &awslambda.FunctionAttributes{
		FunctionArn: jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:auditwriter"), Role: role, SameEnvironment: jsii.Bool(true),
	})
	dlq := awssqs.Queue_FromQueueArn(stack, jsii.String("DLQ"), jsii.String("arn:aws:sqs:eu-west-1:123456789012:auditwriter-dlq"))
	alarms := awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:alarms"))
	auditor := awsiam.NewRole(stack, jsii.String("Auditor"), &awsiam.RoleProps{AssumedBy: awsiam.NewAccountRootPrincipal()})

	// WHEN the ledger is created with a 9-year retention and a standby replica
	l := ledger.New(stack, "Ledger", &ledger.Props{
		Writer: writer, Key: key, AccessLogs: logs, RetentionYears: 9, BucketName: "caro-ledger-123456789012-eu-west-1",
		ReplicaBucketArn: "arn:aws:s3:::caro-ledger-eu-central-1", ReplicaKeyArn: "arn:aws:kms:eu-central-1:123456789012:key/replica", ReplicaRegion: "eu-central-1",
		WriterDeadLetters: dlq, AlarmTopic: alarms,
	})
	l.GrantVerify("AuditorPolicy", auditor)
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the bucket has Object Lock in COMPLIANCE mode with at least 9 years' default retention
	tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]interface{}{
		"ObjectLockEnabled": true,
		"BucketName":        "caro-ledger-123456789012-eu-west-1",
		"ObjectLockConfiguration": map[string]interface{}{
			"ObjectLockEnabled": "Enabled",
			"Rule":              map[string]interface{}{"DefaultRetention": map[string]interface{}{"Mode": "COMPLIANCE", "Days": 9*365 + 3}},
		},
		// AND is versioned, KMS-encrypted, logged, private
		"VersioningConfiguration": map[string]interface{}{"Status": "Enabled"},
		"BucketEncryption": map[string]interface{}{"ServerSideEncryptionConfiguration": []interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"ServerSideEncryptionByDefault": map[string]interface{}{
				"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": assertions.Match_AnyValue()}}),
		}},
		"LoggingConfiguration": map[string]interface{}{"DestinationBucketName": assertions.Match_AnyValue(), "LogFilePrefix": "ledger-checkpoints/"},
		"PublicAccessBlockConfiguration": map[string]interface{}{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		// AND replicates KMS-encrypted objects to the standby bucket with the standby key
		"ReplicationConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
			"Rules": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Status":                  "Enabled",
				"Destination":             assertions.Match_ObjectLike(&map[string]interface{}{"Bucket": "arn:aws:s3:::caro-ledger-eu-central-1", "EncryptionConfiguration": map[string]interface{}{"ReplicaKmsKeyID": "arn:aws:kms:eu-central-1:123456789012:key/replica"}}),
				"SourceSelectionCriteria": map[string]interface{}{"SseKmsEncryptedObjects": map[string]interface{}{"Status": "Enabled"}},
			})},
		}),
	})
	// AND the bucket policy denies requests without TLS
	tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]interface{}{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{
			"Statement": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Effect": "Deny", "Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}},
			})}),
		}),
	})
	// AND the signing key is an asymmetric P-256 SIGN_VERIFY key that is retained
	tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]interface{}{
		"Properties":     map[string]interface{}{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
		"DeletionPolicy": "Retain",
	})
	// AND the writer's policy lists exact actions (no wildcards) on the checkpoint prefix and the keys
	policies := tpl.FindResources(jsii.String("AWS::IAM::Policy"), map[string]interface{}{
		"Properties": map[string]interface{}{"Roles": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("WriterRole"))}}},
	})
	managed := tpl.FindResources(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"Properties": map[string]interface{}{"Roles": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("WriterRole"))}}},
	})
	for k, v := range *managed {
		(*policies)[k] = v
	}
	var writerActions []string
	for _, p := range *policies {
		raw, _ := json.Marshal(p)
		var doc struct {
			Properties struct {
				PolicyDocument struct {
					Statement []struct {
						Action   interface{}
						Resource interface{}
					}
				}
			}
		}
		_ = json.Unmarshal(raw, &doc)
		for _, s := range doc.Properties.PolicyDocument.Statement {
			switch a := s.Action.(type) {
			case string:
				writerActions = append(writerActions, a)
			case []interface{}:
				for _, x := range a {
					writerActions = append(writerActions, x.(string))
				}
			}
			if r, ok := s.Resource.(string); ok && r == "*" {
				t.Errorf("writer policy has Resource *")
			}
		}
	}
	// (listing and reading the locks of its own checkpoints for its verify and the seals, and
	// deleting the versions of retired ones, which Object Lock allows only once their lock ended)
	want := "kms:Decrypt,kms:GenerateDataKey,kms:GetPublicKey,kms:Sign,s3:DeleteObjectVersion,s3:GetObject,s3:GetObjectRetention,s3:ListBucketVersions,s3:PutObject,s3:PutObjectRetention"
	if got := sortedJoin(writerActions); got != want {
		t.Errorf("writer actions = %s, want %s", got, want)
	}
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "ListOwnCheckpoints", "Action": "s3:ListBucketVersions",
				"Condition": map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": []interface{}{"checkpoints/", "checkpoints/*"}}}}),
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "RetireExpiredCheckpoints", "Action": "s3:DeleteObjectVersion"}),
		})},
	})
	// AND a schedule invokes the writer every 5 minutes for time-based checkpoints
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "rate(5 minutes)",
		"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:auditwriter",
		})},
	})
	// AND every Monday the writer verifies the whole ledger (the regular review)
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "cron(0 3 ? * MON *)",
		"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:auditwriter", "Input": `{"mode":"verify"}`,
		})},
	})
	// AND every day the writer retires the yearly segments whose retention has ended
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "cron(15 4 * * ? *)",
		"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:auditwriter", "Input": `{"mode":"retire"}`,
		})},
	})
	// AND a message in the writer's dead-letter queue raises the alarm
	tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
		"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1,
		"ComparisonOperator": "GreaterThanOrEqualToThreshold",
		"AlarmActions":       []interface{}{"arn:aws:sns:eu-west-1:123456789012:alarms"},
	})
	// AND cdk-nag finds nothing unsuppressed in the ledger
	if f := nagcheck.FindingsUnder(stack, "/Test/Ledger"); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
	// AND the auditor may list versions and read retention, nothing more
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"Roles": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("Auditor"))}},
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{
			"Statement": assertions.Match_ArrayWith(&[]interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{"Action": []interface{}{"s3:ListBucket", "s3:ListBucketVersions"}}),
				assertions.Match_ObjectLike(&map[string]interface{}{"Action": []interface{}{"s3:GetObject", "s3:GetObjectRetention"}}),
			}),
		}),
	})
	if env := l.WriterEnvironment(); *env[ledger.EnvRetentionYears] != "9" {
		t.Errorf("env %v", env)
	}
}

func sortedJoin(s []string) string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return strings.Join(s, ",")
}
