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

	// THEN the on-call role creates users only in pools tagged as the platform's and uses the backup
	// buckets' key only through S3 and under its alias
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
	// AND (no key known from context) it unwraps backup data keys only with the multi-Region keys of
	// the platform regions that carry the backup-key tag the peer's stack gives each replica
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid":      "DecryptBackups",
				"Resource": []interface{}{"arn:aws:kms:eu-central-1:123456789012:key/mrk-*", "arn:aws:kms:eu-west-1:123456789012:key/mrk-*"}, // sorted (feature flags)
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{
					"kms:EncryptionContext:caro:purpose": []interface{}{"backup", "identity-export"},
					"aws:ResourceTag/caro:backup-key":    "platform",
				}},
			}),
		})},
	})
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

func TestOnCallReadsTheLedgerCheckpointReplicas(t *testing.T) {
	// GIVEN the whole app WHEN the edge and replica stacks are synthesized
	pa := platformApp(t)
	tpl := assertions.Template_FromStack(pa.Edge, nil)

	// THEN the on-call role lists (under checkpoints/) and reads the checkpoint replica and the own
	// checkpoint bucket of every region, by the names the failover's restore step reads by default,
	// and decrypts them through S3 under the replica and platform keys' aliases
	var buckets, contexts, ownContexts []interface{}
	for _, r := range pa.Replicas {
		b := ReplicaBucketArn(replicaLedger, "123456789012", *r.Region())
		buckets = append(buckets, b)
		contexts = append(contexts, b, b+"/checkpoints/*") // S3 Bucket Key: the bucket ARN; without: the object's
		own := "arn:aws:s3:::" + LedgerBucketName("123456789012", *r.Region())
		ownContexts = append(ownContexts, own, own+"/checkpoints/*")
	}
	contexts = append(contexts, ownContexts...)
	if len(buckets) != 2 || buckets[1] != "arn:aws:s3:::caro-ledger-replica-123456789012-eu-central-1" {
		t.Fatalf("ledger replicas %v", buckets)
	}
	buckets[0], buckets[1] = buckets[1], buckets[0] // the template lists them sorted (the app's feature flags)
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ListLedgerCheckpoints", "Action": "s3:ListBucketVersions",
				"Resource":  assertions.Match_ArrayWith(&buckets),
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "checkpoints/"}},
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ReadLedgerCheckpoints", "Action": []interface{}{"s3:GetObject", "s3:GetObjectRetention"},
				"Resource": assertions.Match_ArrayWith(&[]interface{}{
					"arn:aws:s3:::caro-ledger-replica-123456789012-eu-west-1/checkpoints/*",
				}),
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "LedgerCheckpointDecryptionViaS3", "Action": "kms:Decrypt",
				"Condition": assertions.Match_ObjectLike(&map[string]interface{}{
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": []interface{}{"alias/" + replicaKeyAlias, "alias/" + platformKeyAlias}},
					"StringLike":               map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": contexts},
				}),
			}),
		})},
	})

	// AND (a failback) the own checkpoint buckets the same way
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ListLedgerCheckpoints", "Action": "s3:ListBucketVersions",
				"Resource": assertions.Match_ArrayWith(&[]interface{}{
					"arn:aws:s3:::caro-ledger-123456789012-eu-central-1", "arn:aws:s3:::caro-ledger-123456789012-eu-west-1",
				}),
			}),
			assertions.Match_ObjectLike(&map[string]interface{}{
				"Sid": "ReadLedgerCheckpoints", "Action": []interface{}{"s3:GetObject", "s3:GetObjectRetention"},
				"Resource": assertions.Match_ArrayWith(&[]interface{}{
					"arn:aws:s3:::caro-ledger-123456789012-eu-central-1/checkpoints/*", "arn:aws:s3:::caro-ledger-123456789012-eu-west-1/checkpoints/*",
				}),
			}),
		})},
	})

	// AND in every replica stack that bucket is encrypted with the key the alias names
	for _, r := range pa.Replicas {
		rt := assertions.Template_FromStack(r, nil)
		name := ReplicaBucketName(replicaLedger, "123456789012", *r.Region())
		bucketKey := ""
		for _, res := range *rt.FindResources(jsii.String("AWS::S3::Bucket"), &map[string]interface{}{
			"Properties": map[string]interface{}{"BucketName": name},
		}) {
			bucketKey = refOf((*res)["Properties"], "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
		}
		aliasKey := ""
		for _, res := range *rt.FindResources(jsii.String("AWS::KMS::Alias"), &map[string]interface{}{
			"Properties": map[string]interface{}{"AliasName": "alias/" + replicaKeyAlias},
		}) {
			aliasKey = refOf((*res)["Properties"], "TargetKeyId")
		}
		if bucketKey == "" || bucketKey != aliasKey {
			t.Errorf("%s: bucket %s is encrypted with %q, alias/%s names %q", *r.StackName(), name, bucketKey, replicaKeyAlias, aliasKey)
		}
	}
	// AND in every platform stack the ledger's own bucket has the name the role grants on and is
	// encrypted with the key alias/caro/platform names
	for _, p := range pa.Platforms {
		pt := assertions.Template_FromStack(p.Stack, nil)
		name := LedgerBucketName("123456789012", *p.Region())
		bucketKey := ""
		for _, res := range *pt.FindResources(jsii.String("AWS::S3::Bucket"), &map[string]interface{}{
			"Properties": map[string]interface{}{"BucketName": name},
		}) {
			bucketKey = refOf((*res)["Properties"], "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
		}
		aliasKey := ""
		for _, res := range *pt.FindResources(jsii.String("AWS::KMS::Alias"), &map[string]interface{}{
			"Properties": map[string]interface{}{"AliasName": "alias/" + platformKeyAlias},
		}) {
			aliasKey = refOf((*res)["Properties"], "TargetKeyId")
		}
		if bucketKey == "" || bucketKey != aliasKey {
			t.Errorf("%s: ledger bucket %s is encrypted with %q, alias/%s names %q", *p.StackName(), name, bucketKey, platformKeyAlias, aliasKey)
		}
	}
}
