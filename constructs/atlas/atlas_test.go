package atlas_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/atlas"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// keyAccessFunction stands for lambdas/atlaskeyaccess (its code is not built here).
func keyAccessFunction(stack awscdk.Stack) awslambda.IFunction {
	return awslambda.Function_FromFunctionArn(stack, jsii.String("KeyAccessFunction"), jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:atlaskeyaccess"))
}

func access(role string) atlas.KeyAccess {
	return atlas.KeyAccess{AtlasAWSAccountARN: "arn:aws:iam::536727724300:root", ExternalID: "ext-123", AtlasRoleID: role}
}

func TestPrimaryEncryptionAndBackupSchedule(t *testing.T) {
	// GIVEN the primary-region stack with the platform key
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Primary"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-west-1:123456789012:key/mrk-platform"))

	// WHEN the primary Atlas configuration is declared from the region definitions
	atlas.NewPrimary(stack, "Atlas", &atlas.PrimaryProps{
		ProjectID: "5f0000000000000000000001", ClusterName: "caro-prod", Region: "eu-west-1", StandbyRegion: "eu-central-1",
		Key: key, Access: access("6f0000000000000000000001"), ReplicationSpecID: "rs-1", KeyAccessFunction: keyAccessFunction(stack),
	})
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN encryption at rest uses the platform key in eu-west-1 through the authorized role
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::EncryptionAtRest"), map[string]interface{}{
		"ProjectId":    "5f0000000000000000000001",
		"Profile":      "default",
		"AwsKmsConfig": map[string]interface{}{"Enabled": true, "CustomerMasterKeyID": "mrk-platform", "Region": "EU_WEST_1", "RoleID": "6f0000000000000000000001"},
	})
	// AND the backup schedule copies snapshots (with oplogs) to the standby region
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::CloudBackupSchedule"), map[string]interface{}{
		"ProjectId": "5f0000000000000000000001", "ClusterName": "caro-prod", "AutoExportEnabled": false, "RestoreWindowDays": 7,
		"CopySettings": []interface{}{map[string]interface{}{"CloudProvider": "AWS", "RegionName": "EU_CENTRAL_1", "ShouldCopyOplogs": true,
			"Frequencies": []interface{}{"HOURLY", "DAILY", "WEEKLY", "MONTHLY"}, "ReplicationSpecId": "rs-1"}},
		"Policies": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{"PolicyItems": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"FrequencyType": "daily", "RetentionUnit": "days", "RetentionValue": 7}),
		})})},
	})
	// AND (issue 22 finding 4) the key role has a fixed name, is authorized in Atlas once it and its
	// key policy exist, and only then is encryption at rest configured; then the existing primary
	// cluster is switched to the key
	tpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{"RoleName": "caro-atlas-kms-eu-west-1"})
	tpl.HasResource(jsii.String("Custom::AtlasKeyRoleAuthorization"), map[string]interface{}{
		"Properties": assertions.Match_ObjectLike(&map[string]interface{}{"ProjectId": "5f0000000000000000000001", "RoleId": "6f0000000000000000000001",
			"IamRoleArn": map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("^AtlasKeyRole")), "Arn"}}}),
		"DependsOn": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_StringLikeRegexp(jsii.String("^AtlasKeyRolePolicy"))}),
	})
	tpl.HasResource(jsii.String("MongoDB::Atlas::EncryptionAtRest"), map[string]interface{}{
		"DependsOn": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_StringLikeRegexp(jsii.String("^AtlasKeyRoleAuthorization"))}),
	})
	tpl.HasResource(jsii.String("Custom::AtlasClusterEncryption"), map[string]interface{}{
		"Properties": assertions.Match_ObjectLike(&map[string]interface{}{"ProjectId": "5f0000000000000000000001", "ClusterName": "caro-prod"}),
		"DependsOn":  assertions.Match_ArrayWith(&[]interface{}{assertions.Match_StringLikeRegexp(jsii.String("^AtlasEncryptionAtRest"))}),
	})
	// AND Atlas may assume the key role only with the external ID, and use only that key
	tpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{
		"AssumeRolePolicyDocument": map[string]interface{}{"Statement": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"sts:ExternalId": "ext-123"}},
			"Principal": map[string]interface{}{"AWS": "arn:aws:iam::536727724300:root"},
		})}},
	})
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": map[string]interface{}{"Statement": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
			"Action": []interface{}{"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"}, "Resource": "arn:aws:kms:eu-west-1:123456789012:key/mrk-platform",
		})}},
	})
	if f := nagcheck.FindingsUnder(stack, "/Primary/Atlas"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestStandbyProjectAndCluster(t *testing.T) {
	// GIVEN the standby-region stack with the standby key
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Standby"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-central-1")},
	})
	nagcheck.Apply(stack)
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-central-1:123456789012:key/mrk-platform"))
	// WHEN the standby project and cluster are declared
	atlas.NewStandby(stack, "Atlas", &atlas.StandbyProps{
		OrgID: "org-1", ProjectName: "caro-standby", ClusterName: "caro-standby", Region: "eu-central-1",
		Key: key, Access: access("6f0000000000000000000002"), Profile: "caro", KeyAccessFunction: keyAccessFunction(stack),
	})
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN the project exists, encrypted at rest with the standby key in eu-central-1
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::Project"), map[string]interface{}{"Name": "caro-standby", "OrgId": "org-1", "Profile": "caro"})
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::EncryptionAtRest"), map[string]interface{}{
		"AwsKmsConfig": map[string]interface{}{"Enabled": true, "CustomerMasterKeyID": "mrk-platform", "Region": "EU_CENTRAL_1", "RoleID": "6f0000000000000000000002"},
	})
	// AND the cluster is a backed-up, termination-protected replica set in eu-central-1 using that encryption
	tpl.HasResource(jsii.String("MongoDB::Atlas::Cluster"), map[string]interface{}{
		"Properties": assertions.Match_ObjectLike(&map[string]interface{}{
			"Name": "caro-standby", "ClusterType": "REPLICASET", "BackupEnabled": true, "PitEnabled": true,
			"EncryptionAtRestProvider": "AWS", "TerminationProtectionEnabled": true,
			"ReplicationSpecs": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{"AdvancedRegionConfigs": []interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{"ProviderName": "AWS", "RegionName": "EU_CENTRAL_1",
					"ElectableSpecs": map[string]interface{}{"InstanceSize": "M30", "NodeCount": 3}}),
			}})},
		}),
		"DependsOn":      assertions.Match_AnyValue(),
		"DeletionPolicy": "Retain",
	})
	if f := nagcheck.FindingsUnder(stack, "/Standby/Atlas"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestStandbyInExistingProject(t *testing.T) {
	// GIVEN the standby region's definition names an existing Atlas project
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Standby"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-central-1")},
	})
	key := awskms.Key_FromKeyArn(stack, jsii.String("Key"), jsii.String("arn:aws:kms:eu-central-1:123456789012:key/mrk-platform"))
	// WHEN the standby cluster is declared in it
	s := atlas.NewStandby(stack, "Atlas", &atlas.StandbyProps{ProjectID: "65a1f0c2e4b0a1b2c3d4e5f7", ClusterName: "caro-eu-central-1", Region: "eu-central-1", Key: key, Access: access("6f0000000000000000000002"), KeyAccessFunction: keyAccessFunction(stack)})
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN no project is created and encryption at rest and the cluster use the existing one
	tpl.ResourceCountIs(jsii.String("MongoDB::Atlas::Project"), jsii.Number(0))
	if s.Project != nil {
		t.Error("Project set although none was created")
	}
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::Cluster"), map[string]interface{}{"ProjectId": "65a1f0c2e4b0a1b2c3d4e5f7", "Name": "caro-eu-central-1"})
	tpl.HasResourceProperties(jsii.String("MongoDB::Atlas::EncryptionAtRest"), map[string]interface{}{"ProjectId": "65a1f0c2e4b0a1b2c3d4e5f7"})
}
