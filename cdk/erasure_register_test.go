package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestOwnBackupBucketPatternMatchesTheStack: the on-call role names each region's own backup
// bucket by OwnBackupBucketPattern (its name is generated); the pattern must match the name
// CloudFormation gives the bucket (<stack name>-<logical ID>-<suffix>, lower case), and the
// platform stack outputs the exact name for the failover's restore step.
func TestOwnBackupBucketPatternMatchesTheStack(t *testing.T) {
	// GIVEN the whole app WHEN synthesized
	pa := platformApp(t)
	for _, p := range pa.Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		// THEN the backup bucket's generated name matches the pattern
		var backupBuckets []string
		for id := range *tpl.FindResources(jsii.String("AWS::S3::Bucket"), nil) {
			name := strings.ToLower(*p.StackName() + "-" + id)
			if strings.HasPrefix(name, strings.TrimSuffix(OwnBackupBucketPattern(*p.Region()), "*")) {
				backupBuckets = append(backupBuckets, id)
			}
		}
		if len(backupBuckets) != 1 || !strings.HasPrefix(backupBuckets[0], "BackupsBucket") {
			t.Fatalf("%s: buckets matching %s: %v", *p.StackName(), OwnBackupBucketPattern(*p.Region()), backupBuckets)
		}
		// AND the stack outputs its name as OwnBackupBucket (what cmd/caro's failover reads)
		tpl.HasOutput(jsii.String("OwnBackupBucket"), map[string]interface{}{"Value": map[string]interface{}{"Ref": backupBuckets[0]}})
		// AND the key alias the on-call role is given is the backup key's
		tpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]interface{}{"AliasName": "alias/" + backupKeyAlias})
	}
	// AND the on-call role may list erasures/ and read erasures/* of every region's own backup
	// bucket, decrypting through S3 under the backup key's alias
	edge := assertions.Template_FromStack(pa.Edge, nil)
	var buckets []interface{}
	for _, p := range pa.Platforms {
		buckets = append(buckets, "arn:aws:s3:::"+OwnBackupBucketPattern(*p.Region()))
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].(string) < buckets[j].(string) }) // the template lists them sorted (the app's feature flags)
	edge.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ListErasureRegister", "Action": "s3:ListBucket", "Resource": assertions.Match_ArrayWith(&buckets),
				"Condition": map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": "erasures/*"}},
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ReadErasureRegister", "Action": "s3:GetObject",
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ErasureRegisterDecryptionViaS3", "Action": "kms:Decrypt",
				"Condition": assertions.Match_ObjectLike(&map[string]interface{}{
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + backupKeyAlias},
				}),
			}),
		})},
	})
}
