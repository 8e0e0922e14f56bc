package replication_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/accesslogs"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/replication"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestRetentionDaysRoundsLeapDaysUp(t *testing.T) {
	for years, want := range map[int]int{1: 366, 4: 1461, 9: 3288} {
		if got := replication.RetentionDays(years); got != want {
			t.Errorf("RetentionDays(%d) = %d, want %d", years, got, want)
		}
	}
}

func TestLockedBucketReplicatesUnderComplianceLock(t *testing.T) {
	// GIVEN a stack with a key and an access-log bucket
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	accesslogs.UseBucketPolicy(stack)
	nagcheck.Apply(stack)
	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)})
	logs := accesslogs.New(stack, "Logs")

	// WHEN two locked buckets replicate to another region
	for _, id := range []string{"Checkpoints", "Backups"} {
		replication.NewLockedBucket(stack, id, &replication.LockedBucketProps{
			Key: key, AccessLogs: logs, LogPrefix: id + "/", RetentionYears: 9, Holds: replication.HoldsBackups,
			Replica: &replication.Destination{
				BucketArn: "arn:aws:s3:::replica-" + strings.ToLower(id), KeyArn: jsii.String("arn:aws:kms:eu-central-1:123456789012:alias/r"),
				Region: "eu-central-1", RuleID: id + "-to-standby",
			},
		})
	}

	// THEN each locks every version in COMPLIANCE mode for 9 years and replicates KMS objects
	tpl := assertions.Template_FromStack(stack, nil)
	tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]interface{}{
		"ObjectLockConfiguration": map[string]interface{}{"ObjectLockEnabled": "Enabled", "Rule": map[string]interface{}{
			"DefaultRetention": map[string]interface{}{"Mode": "COMPLIANCE", "Days": 3288},
		}},
		"VersioningConfiguration": map[string]interface{}{"Status": "Enabled"},
		"ReplicationConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{
			"Rules": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"Id": "Checkpoints-to-standby", "Status": "Enabled",
				"SourceSelectionCriteria": map[string]interface{}{"SseKmsEncryptedObjects": map[string]interface{}{"Status": "Enabled"}},
			})},
		}),
	})
	// AND each role may read the locked versions with their retention and legal hold, and encrypt
	// the replicas with the key the alias names (key/*, narrowed by the alias), never on the alias
	// ARN, which covers only the alias (issue 22, findings 1 and 2)
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "SourceObjectVersions", "Action": []interface{}{
				"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold"}}),
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "EncryptReplicasViaS3", "Resource": "arn:aws:kms:eu-central-1:123456789012:key/*",
				"Condition": assertions.Match_ObjectLike(&map[string]interface{}{"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/r"}})}),
		})}),
	})
	// AND the two replication roles do not share CDK's fixed name (IAM names are account-wide)
	body, _ := json.Marshal(tpl.ToJSON())
	if strings.Contains(string(body), "CDKReplicationRole") {
		t.Error("a replication role keeps CDK's fixed name")
	}
	if strings.Contains(string(body), `"Resource":"arn:aws:kms:eu-central-1:123456789012:alias/r"`) {
		t.Error("a policy grants on the replica key's alias ARN")
	}
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestLockedBucketWithoutReplicaNeedsAReason(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "NotReplicatedBecause") {
			t.Fatalf("want a panic asking for a reason, got %v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	replication.NewLockedBucket(stack, "B", &replication.LockedBucketProps{
		Key: awskms.NewKey(stack, jsii.String("Key"), nil), AccessLogs: awss3.NewBucket(stack, jsii.String("Logs"), nil), RetentionYears: 1, Holds: replication.HoldsBackups,
	})
}
