package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestAPIFunctionRecordsErasuresInTheBackupBucket(t *testing.T) {
	// GIVEN the whole app WHEN each platform stack is synthesized
	for _, p := range platformApp(t).Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		// THEN the API function knows the region's backup bucket as its erasure register
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
			"Description": assertions.Match_StringLikeRegexp(jsii.String("GDPR export and erasure")),
			"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
				"CARO_ERASURE_BUCKET": map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^BackupsBucket"))},
			})},
		})
		// AND may only put objects under erasures/ there
		tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "RecordErasures", "Action": "s3:PutObject"}),
			})}),
			"Roles": assertions.Match_ArrayWith(&[]interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^ApiHandler"))}}),
		})
	}
}
