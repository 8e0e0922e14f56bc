package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
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
