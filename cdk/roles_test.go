package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/identity"
	"github.com/carohealth/platform/regions"
)

func TestEdgeExportsTheRoleArns(t *testing.T) {
	// GIVEN the whole app WHEN the edge stack is synthesized
	tpl := assertions.Template_FromStack(platformApp(t).Edge, nil)

	// THEN the pipeline's roles and the on-call role are outputs, so CI variables can be set from them
	for _, name := range []string{"DeployRoleArn", "OnCallRoleArn", "OpsRoleArn"} {
		tpl.HasOutput(jsii.String(name), map[string]interface{}{
			"Value": map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("^Roles")), "Arn"}},
		})
	}
	// AND the ops role reads the replica backup buckets under their key's alias
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ReadBackups",
				"Resource": assertions.Match_ArrayEquals(&[]interface{}{ // sorted by the app's feature flags
					"arn:aws:s3:::caro-backup-replica-123456789012-eu-central-1/backups/*",
					"arn:aws:s3:::caro-backup-replica-123456789012-eu-west-1/backups/*",
				}),
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "BucketEncryptionViaS3",
				"Condition": assertions.Match_ObjectLike(&map[string]interface{}{
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + replicaKeyAlias},
				}),
			}),
		})},
	})
}

func TestOnCallPolicyIsNarrowedByTagAndAlias(t *testing.T) {
	// GIVEN the whole app without backup key context WHEN the edge stack is synthesized
	tpl := assertions.Template_FromStack(platformApp(t).Edge, nil)

	// THEN the on-call role creates users only in pools tagged as the platform's, uses the backup
	// buckets' key only through S3 and under its alias, and (no key known yet) decrypts no backup key
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid":       "RecreateUsers",
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"aws:ResourceTag/" + identity.PoolTagKey: identity.PoolTagValue}},
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid":    "BucketEncryptionViaS3",
				"Action": []interface{}{"kms:Decrypt", "kms:GenerateDataKey"},
				"Condition": assertions.Match_ObjectLike(&map[string]interface{}{
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + replicaKeyAlias},
				}),
			}),
		})},
	})
	for _, sid := range []string{"DecryptBackups", "DescribeBackupKeys"} {
		found := tpl.FindResources(jsii.String("AWS::IAM::ManagedPolicy"), &map[string]interface{}{
			"Properties": map[string]interface{}{"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{"Sid": sid}),
			})}},
		})
		if len(*found) != 0 {
			t.Errorf("%s present although no backup key is known", sid)
		}
	}
}

func TestBackupKeyArnsFromContext(t *testing.T) {
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	west := "arn:aws:kms:eu-west-1:123456789012:key/mrk-1111"
	central := "arn:aws:kms:eu-central-1:123456789012:key/mrk-2222"

	t.Run("GIVEN both regions' keys THEN each region names its peer's replica and the ops role all four", func(t *testing.T) {
		got, err := backupKeyArns(set, lookup(map[string]string{"eu-west-1": west, "eu-central-1": central}))
		if err != nil {
			t.Fatal(err)
		}
		if want := "arn:aws:kms:eu-west-1:123456789012:key/mrk-2222,arn:aws:kms:eu-central-1:123456789012:key/mrk-1111"; strings.Join(got.replicas, ",") != want {
			t.Errorf("replicas %v, want %s", got.replicas, want)
		}
		if len(got.all) != 4 {
			t.Errorf("all %v, want both keys and both replicas", got.all)
		}
	})
	t.Run("GIVEN only the primary's key THEN only the standby's replica is known and the ops role keeps its default", func(t *testing.T) {
		got, err := backupKeyArns(set, lookup(map[string]string{"eu-west-1": west}))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got.replicas, ",") != "arn:aws:kms:eu-central-1:123456789012:key/mrk-1111" || got.all != nil {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("GIVEN no key THEN nothing is named", func(t *testing.T) {
		got, err := backupKeyArns(set, lookup(nil))
		if err != nil || got.replicas != nil || got.all != nil {
			t.Errorf("got %+v, %v", got, err)
		}
	})
	for name, arn := range map[string]string{
		"an alias":            "arn:aws:kms:eu-west-1:123456789012:alias/caro/backup",
		"a single-Region key": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd",
		"a wildcard":          "arn:aws:kms:eu-west-1:123456789012:key/mrk-*",
		"not an ARN":          "mrk-1111",
	} {
		t.Run("GIVEN "+name+" THEN the app refuses naming the context key", func(t *testing.T) {
			_, err := backupKeyArns(set, lookup(map[string]string{"eu-west-1": arn}))
			if err == nil || !strings.Contains(err.Error(), "backupKeyArn:eu-west-1") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// lookup is a backupKeyArn:<region> context.
func lookup(m map[string]string) func(string) string { return func(r string) string { return m[r] } }
