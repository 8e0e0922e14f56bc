package backup_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/backup"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func newFunction(stack awscdk.Stack, id string) awslambda.Function {
	return awslambda.NewFunction(stack, jsii.String(id), &awslambda.FunctionProps{
		Runtime: awslambda.Runtime_NODEJS_20_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("stub")),
	})
}

func TestBackupInfrastructure(t *testing.T) {
	// GIVEN a primary-region stack with the backup and verify functions, an access-log bucket and an alarm topic
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	fn := newFunction(stack, "BackupFn")
	verify := newFunction(stack, "VerifyFn")
	logs := awss3.NewBucket(stack, jsii.String("Logs"), nil)
	alarms := awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:alarms"))

	// WHEN the backup infrastructure is declared with a 2-year retention and eu-central-1 as standby
	backup.New(stack, "Backup", &backup.Props{
		BackupFunction: fn, VerifyFunction: verify, AccessLogs: logs, AlarmTopic: alarms,
		StandbyRegion: "eu-central-1", ReplicaBucketArn: "arn:aws:s3:::caro-backups-eu-central-1", RetentionYears: 2,
		UserPoolID: "eu-west-1_pool", UserPoolArn: "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_pool",
	})
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the key is a rotating multi-Region key, retained
	tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]interface{}{
		"Properties":     assertions.Match_ObjectLike(&map[string]interface{}{"MultiRegion": true, "EnableKeyRotation": true}),
		"DeletionPolicy": "Retain",
	})
	// AND the bucket is locked for the retention (COMPLIANCE), versioned, SSE-KMS with that key,
	// logged, private, expires after the retention and replicates to the standby bucket under the
	// key's replica
	days := 2*365 + 1
	tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]interface{}{
		"ObjectLockEnabled": true,
		"ObjectLockConfiguration": map[string]interface{}{"ObjectLockEnabled": "Enabled",
			"Rule": map[string]interface{}{"DefaultRetention": map[string]interface{}{"Mode": "COMPLIANCE", "Days": days}}},
		"VersioningConfiguration": map[string]interface{}{"Status": "Enabled"},
		"BucketEncryption": map[string]interface{}{"ServerSideEncryptionConfiguration": []interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"ServerSideEncryptionByDefault": map[string]interface{}{
				"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": assertions.Match_AnyValue()}}),
		}},
		"LoggingConfiguration": map[string]interface{}{"DestinationBucketName": assertions.Match_AnyValue(), "LogFilePrefix": "backups/"},
		"PublicAccessBlockConfiguration": map[string]interface{}{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"LifecycleConfiguration": map[string]interface{}{"Rules": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"ExpirationInDays": days + 1, "Status": "Enabled", "NoncurrentVersionExpiration": map[string]interface{}{"NoncurrentDays": 1},
		})})},
		"ReplicationConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
			"Rules": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Status": "Enabled",
				"Destination": assertions.Match_ObjectLike(&map[string]interface{}{"Bucket": "arn:aws:s3:::caro-backups-eu-central-1",
					"EncryptionConfiguration": map[string]interface{}{"ReplicaKmsKeyID": assertions.Match_AnyValue()}}),
			})},
		}),
	})
	// AND the bucket policy refuses plain HTTP
	tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Effect": "Deny", "Condition": map[string]interface{}{"Bool": map[string]interface{}{"aws:SecureTransport": "false"}}}),
		})},
	})
	// AND a daily rule invokes the backup function with {"mode":"backup"}, a weekly one the verify function with {"mode":"verify"}
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "cron(15 2 * * ? *)",
		"Targets":            []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{"Input": `{"mode":"backup"}`})},
	})
	tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
		"ScheduleExpression": "cron(30 4 ? * SUN *)",
		"Targets":            []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{"Input": `{"mode":"verify"}`})},
	})
	// AND failures of either, and a missing backup, alarm to the topic
	for _, name := range []string{"BackupFailed", "BackupMissing", "VerifyFailed"} {
		found := tpl.FindResources(jsii.String("AWS::CloudWatch::Alarm"), map[string]interface{}{
			"Properties": assertions.Match_ObjectLike(&map[string]interface{}{"AlarmActions": []interface{}{"arn:aws:sns:eu-west-1:123456789012:alarms"}}),
		})
		ok := false
		for id := range *found {
			ok = ok || strings.Contains(id, name)
		}
		if !ok {
			t.Errorf("no alarm %s with the alarm topic", name)
		}
	}
	// AND the backup function may use the key only with the backup encryption contexts, and the verify function only read
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "BackupDataKeys", "Action": []interface{}{"kms:Decrypt", "kms:GenerateDataKey"},
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"kms:EncryptionContext:caro:purpose": []interface{}{"backup", "identity-export"}}}}),
		})},
	})
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "BackupObjects", "Action": "s3:GetObject"}),
		})},
	})
	// AND the backup function may list the user pool for the identity export
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Action": "cognito-idp:ListUsers", "Resource": "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_pool",
		})}},
	})
	// AND the functions learn the bucket and key
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"CARO_BACKUP_BUCKET": assertions.Match_AnyValue(), "CARO_BACKUP_KEY_ID": assertions.Match_AnyValue(),
		})},
	})
	// AND the construct is nag clean
	if f := nagcheck.FindingsUnder(stack, "/Test/Backup"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestErasureRecordGrant(t *testing.T) {
	// GIVEN the backup infrastructure and an API function
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	apiFn := newFunction(stack, "ApiFn")
	b := backup.New(stack, "Backup", &backup.Props{
		BackupFunction: newFunction(stack, "BackupFn"), AccessLogs: awss3.NewBucket(stack, jsii.String("Logs"), nil),
		AlarmTopic:    awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:alarms")),
		StandbyRegion: "eu-central-1", ReplicaBucketArn: "arn:aws:s3:::caro-backups-eu-central-1",
	})
	// WHEN the API function is allowed to record erasures
	b.GrantErasureRecord(stack, "ErasureRegister", apiFn)
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN its policy allows exactly PutObject under erasures/ and data keys through S3, nothing else
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"Roles": assertions.Match_ArrayWith(&[]interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("ApiFnServiceRole"))}}),
		"PolicyDocument": map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{
			map[string]interface{}{"Sid": "RecordErasures", "Effect": "Allow", "Action": "s3:PutObject",
				"Resource": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
					map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("BackupBucket")), "Arn"}}, "/erasures/*"}}}},
			map[string]interface{}{"Sid": "BucketEncryptionViaS3", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": assertions.Match_AnyValue(),
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
		}},
	})
	// AND the function knows the bucket, and nothing is left for cdk-nag
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Handler": "index.handler",
		"Environment": map[string]interface{}{"Variables": map[string]interface{}{
			backup.EnvErasureBucket: map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("BackupBucket"))}}},
	})
	if f := nagcheck.FindingsUnder(stack, "/Test/ErasureRegister"); len(f) != 0 {
		t.Fatalf("nag findings: %v", f)
	}
}

func TestBackupWithExistingKey(t *testing.T) {
	// GIVEN the backup key created beforehand (its own stack, so the standby replica can exist first)
	app := awscdk.NewApp(nil)
	keys := awscdk.NewStack(app, jsii.String("Keys"), &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}})
	backup.NewKey(keys, "BackupKey")
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}})
	fn := newFunction(stack, "BackupFn")
	// WHEN the backup infrastructure uses it
	b := backup.New(stack, "Backup", &backup.Props{
		BackupFunction: fn, AccessLogs: awss3.NewBucket(stack, jsii.String("Logs"), nil),
		AlarmTopic:    awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:alarms")),
		StandbyRegion: "eu-central-1", ReplicaBucketArn: "arn:aws:s3:::caro-backups-eu-central-1",
		KeyArn: jsii.String("arn:aws:kms:eu-west-1:123456789012:key/mrk-abc"),
	})
	// THEN no key is created here and the function is pointed at the given key
	tpl := assertions.Template_FromStack(stack, nil)
	tpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(0))
	if b.Key != nil {
		t.Error("a key was created although KeyArn was given")
	}
	tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"CARO_BACKUP_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/mrk-abc",
		})},
	})
	assertions.Template_FromStack(keys, nil).HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]interface{}{"MultiRegion": true, "EnableKeyRotation": true})
}

func TestStandbyRegionResources(t *testing.T) {
	// GIVEN the standby-region stack
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Standby"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-central-1")},
	})
	nagcheck.Apply(stack)
	logs := awss3.NewBucket(stack, jsii.String("Logs"), nil)
	// WHEN the replica key and the replica bucket are declared
	rk := backup.NewReplicaKey(stack, "BackupKeyReplica", "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234")
	backup.NewReplicaBucket(stack, "BackupReplica", &backup.ReplicaBucketProps{
		Key: awskms.Key_FromKeyArn(stack, jsii.String("RK"), rk.AttrArn()), AccessLogs: logs, BucketName: "caro-backups-eu-central-1",
	})
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN the replica key points at the primary and the bucket is locked, versioned and KMS-encrypted
	tpl.HasResourceProperties(jsii.String("AWS::KMS::ReplicaKey"), map[string]interface{}{"PrimaryKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234"})
	tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]interface{}{
		"BucketName": "caro-backups-eu-central-1", "ObjectLockEnabled": true,
		"VersioningConfiguration": map[string]interface{}{"Status": "Enabled"},
	})
	if f := nagcheck.FindingsUnder(stack, "/Standby/BackupReplica"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
	if f := nagcheck.FindingsUnder(stack, "/Standby/BackupKeyReplica"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestBackupsScheduledByTheEngine(t *testing.T) {
	// GIVEN the backup engine writes the backups (constructs/backupengine)
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	fn := newFunction(stack, "VerifyFn")
	logs := awss3.NewBucket(stack, jsii.String("Logs"), nil)
	alarms := awssns.Topic_FromTopicArn(stack, jsii.String("Alarms"), jsii.String("arn:aws:sns:eu-west-1:123456789012:alarms"))
	// WHEN the backup infrastructure is declared for it
	b := backup.New(stack, "Backup", &backup.Props{BackupFunction: fn, AccessLogs: logs, AlarmTopic: alarms, ScheduledByEngine: true,
		StandbyRegion: "eu-central-1", ReplicaBucketArn: "arn:aws:s3:::caro-backups-eu-central-1",
		UserPoolID: "eu-west-1_pool", UserPoolArn: "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_pool"})
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN only the weekly verification is scheduled, and the function can only read backups
	if b.BackupRule != nil || b.BackupFailed != nil || b.BackupMissing != nil || b.VerifyRule == nil || b.VerifyFailed == nil {
		t.Fatal("the daily backup rule and its alarms are declared although the engine schedules the backups")
	}
	tpl.ResourceCountIs(jsii.String("AWS::Events::Rule"), jsii.Number(1))
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "BackupObjects", "Action": "s3:GetObject"}),
		})},
	})
	if policies := tpl.FindResources(jsii.String("AWS::IAM::ManagedPolicy"), nil); strings.Contains(fmt.Sprint(*policies), "cognito-idp:ListUsers") {
		t.Fatal("the verify function may list the user pool")
	}
}
