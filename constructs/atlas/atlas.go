// Package atlas declares the MongoDB Atlas side of the platform's data-protection promises as
// CloudFormation resources (MongoDB's public third-party types, through
// awscdk-resources-mongodbatlas): encryption at rest with the platform's AWS KMS keys, the
// cloud-backup schedule of the primary cluster with snapshot copies in the standby region, and the
// standby project and cluster.
//
// The resources are split by the region whose stack should hold them: NewPrimary (primary region:
// encryption at rest of the primary project, the backup schedule) and NewStandby (standby region:
// the standby project, its encryption at rest and its cluster), so the standby side can be
// deployed and changed while the primary region is down.
//
// Each type must be activated (CloudFormation public extensions, publisher MongoDB) in the region
// whose stack uses it, with an execution role, and Atlas credentials stored as the Secrets Manager
// secret cfn/atlas/profile/<Profile> in that region; see Extensions.
package atlas

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	mongodbatlas "github.com/mongodb/awscdk-resources-mongodbatlas-go/awscdkresourcesmongodbatlas/v4"
)

// Extensions are the CloudFormation public extensions (publisher MongoDB) the constructs use; each
// must be activated in the regions whose stacks declare it.
var Extensions = []string{
	"MongoDB::Atlas::EncryptionAtRest",
	"MongoDB::Atlas::CloudBackupSchedule",
	"MongoDB::Atlas::Project",
	"MongoDB::Atlas::Cluster",
}

// AtlasRegion converts an AWS region ("eu-central-1") to Atlas's name ("EU_CENTRAL_1").
func AtlasRegion(awsRegion string) string {
	return strings.ToUpper(strings.ReplaceAll(awsRegion, "-", "_"))
}

// KeyAccess is what Atlas needs to use an AWS KMS key: an IAM role it assumes (created here) and
// the Atlas-side ID of that role's authorization (a one-time cloud-provider-access setup in the
// project, for which no CloudFormation type exists).
type KeyAccess struct {
	// AtlasAWSAccountARN and ExternalID come from the project's cloud provider access setup
	// (atlas cloudProviders accessRoles aws create): Atlas's AWS principal and the external ID.
	AtlasAWSAccountARN string
	ExternalID         string
	// AtlasRoleID is the Atlas ID of the authorized role (24 hex digits).
	AtlasRoleID string
}

// PrimaryProps configure the primary region's Atlas resources.
type PrimaryProps struct {
	// Profile names the secret cfn/atlas/profile/<Profile> with the Atlas credentials ("default").
	Profile string
	// ProjectID and ClusterName identify the existing primary project and cluster.
	ProjectID   string
	ClusterName string
	// Region is the primary AWS region ("eu-west-1"); StandbyRegion receives snapshot copies.
	Region        string
	StandbyRegion string
	// Key is the platform key Atlas encrypts the primary cluster's storage with.
	Key    awskms.IKey
	Access KeyAccess
	// KeyAccessFunction serves the custom resources that authorize the key role in Atlas and
	// switch the cluster to the key (lambdas/atlaskeyaccess). Required.
	KeyAccessFunction awslambda.IFunction
	// ReplicationSpecID of the primary cluster, which Atlas requires in snapshot copy settings
	// (the region definition's atlas.replicationSpecId). Required.
	ReplicationSpecID string
	// RestoreWindowDays for continuous (point-in-time) backup; default 7.
	RestoreWindowDays float64
	// ReferenceHourOfDay (UTC) of the daily snapshot; default 1 (before the logical backup).
	ReferenceHourOfDay float64
}

// Primary is the declared primary-region Atlas configuration.
type Primary struct {
	KeyRole          awsiam.Role
	EncryptionAtRest mongodbatlas.CfnEncryptionAtRest
	BackupSchedule   mongodbatlas.CfnCloudBackupSchedule
	// KeyRoleAuthorization authorizes KeyRole in Atlas before EncryptionAtRest is created;
	// ClusterEncryption switches the (existing) primary cluster to the key after it.
	KeyRoleAuthorization, ClusterEncryption awscdk.CustomResource
}

func profile(p string) *string {
	if p == "" {
		p = "default"
	}
	return jsii.String(p)
}

// KeyRoleName is the fixed name of the IAM role Atlas assumes in region: fixed, so its ARN is
// known before the stack creates it and stays the one authorized in Atlas when the role is
// replaced; per region, since IAM names are account-wide.
func KeyRoleName(region string) string { return "caro-atlas-kms-" + region }

// keyRole creates the IAM role Atlas assumes to use key for encryption at rest, and its policy.
func keyRole(scope constructs.Construct, id, region string, key awskms.IKey, a KeyAccess) (awsiam.Role, awsiam.ManagedPolicy) {
	if a.AtlasAWSAccountARN == "" || a.ExternalID == "" || a.AtlasRoleID == "" {
		panic("atlas: KeyAccess needs AtlasAWSAccountARN, ExternalID and AtlasRoleID (from the project's cloud provider access setup)")
	}
	role := awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		RoleName:    jsii.String(KeyRoleName(region)),
		Description: jsii.String("Assumed by MongoDB Atlas to use the platform KMS key for encryption at rest"),
		AssumedBy: awsiam.NewArnPrincipal(jsii.String(a.AtlasAWSAccountARN)).WithConditions(&map[string]interface{}{
			"StringEquals": map[string]interface{}{"sts:ExternalId": a.ExternalID},
		}),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	policy := awsiam.NewManagedPolicy(scope, jsii.String(id+"Policy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Atlas encryption at rest: use the one platform key"),
		Roles:       &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AtlasEncryptionAtRest"),
			Actions:   jsii.Strings("kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"),
			Resources: &[]*string{key.KeyArn()},
		})},
	})
	return role, policy
}

// NewPrimary declares encryption at rest of the primary project with the platform key and the
// primary cluster's backup schedule, whose snapshots are copied to the standby region.
func NewPrimary(scope constructs.Construct, id string, p *PrimaryProps) *Primary {
	switch {
	case p == nil || p.ProjectID == "" || p.ClusterName == "":
		panic("atlas.NewPrimary: ProjectID and ClusterName are required")
	case p.Region == "" || p.StandbyRegion == "" || p.Region == p.StandbyRegion:
		panic("atlas.NewPrimary: Region and a different StandbyRegion are required")
	case p.Key == nil:
		panic("atlas.NewPrimary: Key (the platform KMS key) is required")
	case p.KeyAccessFunction == nil:
		panic("atlas.NewPrimary: KeyAccessFunction (lambdas/atlaskeyaccess) is required: Atlas accepts encryption at rest only with an authorized role")
	case p.ReplicationSpecID == "":
		panic("atlas.NewPrimary: ReplicationSpecID is required: Atlas copies snapshots to the standby region only with the cluster's replication spec ID " +
			"(set atlas.replicationSpecId in the primary's region definition, from `atlas clusters describe`)")
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	role, policy := keyRole(c, "KeyRole", p.Region, p.Key, p.Access)
	out := &Primary{KeyRole: role}
	out.KeyRoleAuthorization = authorizeKeyRole(c, p.KeyAccessFunction, jsii.String(p.ProjectID), p.Access.AtlasRoleID, role, policy)
	out.EncryptionAtRest = mongodbatlas.NewCfnEncryptionAtRest(c, jsii.String("EncryptionAtRest"), &mongodbatlas.CfnEncryptionAtRestProps{
		ProjectId: jsii.String(p.ProjectID),
		Profile:   profile(p.Profile),
		AwsKmsConfig: &mongodbatlas.AwsKmsConfig{
			Enabled:             jsii.Bool(true),
			CustomerMasterKeyId: p.Key.KeyId(),
			Region:              jsii.String(AtlasRegion(p.Region)),
			RoleId:              jsii.String(p.Access.AtlasRoleID),
		},
	})
	out.EncryptionAtRest.Node().AddDependency(out.KeyRoleAuthorization)
	out.ClusterEncryption = encryptCluster(c, p.KeyAccessFunction, p.ProjectID, p.ClusterName)
	out.ClusterEncryption.Node().AddDependency(out.EncryptionAtRest)
	window := p.RestoreWindowDays
	if window == 0 {
		window = 7
	}
	hour := p.ReferenceHourOfDay
	if hour == 0 {
		hour = 1
	}
	copySetting := &mongodbatlas.ApiAtlasDiskBackupCopySettingView{
		CloudProvider:     jsii.String("AWS"),
		RegionName:        jsii.String(AtlasRegion(p.StandbyRegion)),
		Frequencies:       jsii.Strings("HOURLY", "DAILY", "WEEKLY", "MONTHLY"),
		ShouldCopyOplogs:  jsii.Bool(true),
		ReplicationSpecId: jsii.String(p.ReplicationSpecID),
	}
	item := func(freq string, interval float64, unit string, keep float64) *mongodbatlas.ApiPolicyItemView {
		return &mongodbatlas.ApiPolicyItemView{FrequencyType: jsii.String(freq), FrequencyInterval: jsii.Number(interval), RetentionUnit: jsii.String(unit), RetentionValue: jsii.Number(keep)}
	}
	out.BackupSchedule = mongodbatlas.NewCfnCloudBackupSchedule(c, jsii.String("BackupSchedule"), &mongodbatlas.CfnCloudBackupScheduleProps{
		ProjectId:             jsii.String(p.ProjectID),
		ClusterName:           jsii.String(p.ClusterName),
		Profile:               profile(p.Profile),
		AutoExportEnabled:     jsii.Bool(false),
		ReferenceHourOfDay:    jsii.Number(hour),
		ReferenceMinuteOfHour: jsii.Number(0),
		RestoreWindowDays:     jsii.Number(window),
		UpdateSnapshots:       jsii.Bool(false),
		Policies: &[]*mongodbatlas.ApiPolicyView{{PolicyItems: &[]*mongodbatlas.ApiPolicyItemView{
			item("hourly", 6, "days", 2),
			item("daily", 1, "days", 7),
			item("weekly", 6, "weeks", 4),
			item("monthly", 40, "months", 12),
		}}},
		CopySettings: &[]*mongodbatlas.ApiAtlasDiskBackupCopySettingView{copySetting},
	})
	out.BackupSchedule.Node().AddDependency(out.EncryptionAtRest)
	return out
}

// StandbyProps configure the standby region's Atlas resources.
type StandbyProps struct {
	Profile string
	// ProjectID, when set, is an existing standby project (the region definition's atlas.projectId):
	// no project is created. Otherwise OrgID and ProjectName create one.
	ProjectID   string
	OrgID       string
	ProjectName string
	ClusterName string
	// Region is the standby AWS region ("eu-central-1").
	Region string
	// Key is the standby region's platform key (for example the replica of a multi-Region key).
	Key    awskms.IKey
	Access KeyAccess
	// KeyAccessFunction: see PrimaryProps. Required.
	KeyAccessFunction awslambda.IFunction
	// InstanceSize defaults to M30 (the smallest tier with customer-managed encryption at rest
	// and cloud backups suited to production); MongoDBMajorVersion to 7.0.
	InstanceSize        string
	MongoDBMajorVersion string
}

// Standby is the declared standby project and cluster.
type Standby struct {
	KeyRole awsiam.Role
	// Project is the created project (nil when StandbyProps.ProjectID named an existing one).
	Project          mongodbatlas.CfnProject
	EncryptionAtRest mongodbatlas.CfnEncryptionAtRest
	Cluster          mongodbatlas.CfnCluster
	// KeyRoleAuthorization authorizes KeyRole in Atlas before EncryptionAtRest is created.
	KeyRoleAuthorization awscdk.CustomResource
}

// NewStandby declares the standby project with encryption at rest under the standby region's key,
// and a three-node replica set in the standby region with backups on and termination protection.
func NewStandby(scope constructs.Construct, id string, p *StandbyProps) *Standby {
	switch {
	case p == nil || p.ClusterName == "" || p.Region == "":
		panic("atlas.NewStandby: ClusterName and Region are required")
	case p.ProjectID == "" && (p.OrgID == "" || p.ProjectName == ""):
		panic("atlas.NewStandby: give ProjectID (existing project) or OrgID and ProjectName (new project)")
	case p.Key == nil:
		panic("atlas.NewStandby: Key (the standby region's KMS key) is required")
	case p.KeyAccessFunction == nil:
		panic("atlas.NewStandby: KeyAccessFunction (lambdas/atlaskeyaccess) is required: Atlas accepts encryption at rest only with an authorized role")
	}
	size := p.InstanceSize
	if size == "" {
		size = "M30"
	}
	version := p.MongoDBMajorVersion
	if version == "" {
		version = "7.0"
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	role, policy := keyRole(c, "KeyRole", p.Region, p.Key, p.Access)
	s := &Standby{KeyRole: role}
	projectID := jsii.String(p.ProjectID)
	if p.ProjectID == "" {
		s.Project = mongodbatlas.NewCfnProject(c, jsii.String("Project"), &mongodbatlas.CfnProjectProps{
			Name:                      jsii.String(p.ProjectName),
			OrgId:                     jsii.String(p.OrgID),
			Profile:                   profile(p.Profile),
			WithDefaultAlertsSettings: jsii.Bool(true),
		})
		s.Project.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
		projectID = s.Project.AttrId()
	}
	s.EncryptionAtRest = mongodbatlas.NewCfnEncryptionAtRest(c, jsii.String("EncryptionAtRest"), &mongodbatlas.CfnEncryptionAtRestProps{
		ProjectId: projectID,
		Profile:   profile(p.Profile),
		AwsKmsConfig: &mongodbatlas.AwsKmsConfig{
			Enabled:             jsii.Bool(true),
			CustomerMasterKeyId: p.Key.KeyId(),
			Region:              jsii.String(AtlasRegion(p.Region)),
			RoleId:              jsii.String(p.Access.AtlasRoleID),
		},
	})
	s.KeyRoleAuthorization = authorizeKeyRole(c, p.KeyAccessFunction, projectID, p.Access.AtlasRoleID, role, policy)
	s.EncryptionAtRest.Node().AddDependency(s.KeyRoleAuthorization)
	s.Cluster = mongodbatlas.NewCfnCluster(c, jsii.String("Cluster"), &mongodbatlas.CfnClusterProps{
		Name:                         jsii.String(p.ClusterName),
		ProjectId:                    projectID,
		Profile:                      profile(p.Profile),
		ClusterType:                  jsii.String("REPLICASET"),
		BackupEnabled:                jsii.Bool(true),
		PitEnabled:                   jsii.Bool(true),
		EncryptionAtRestProvider:     mongodbatlas.CfnClusterPropsEncryptionAtRestProvider_AWS,
		MongoDbMajorVersion:          jsii.String(version),
		TerminationProtectionEnabled: jsii.Bool(true),
		ReplicationSpecs: &[]*mongodbatlas.AdvancedReplicationSpec{{
			NumShards: jsii.Number(1),
			AdvancedRegionConfigs: &[]*mongodbatlas.AdvancedRegionConfig{{
				ProviderName:   mongodbatlas.AdvancedRegionConfigProviderName_AWS,
				RegionName:     jsii.String(AtlasRegion(p.Region)),
				Priority:       jsii.Number(7),
				ElectableSpecs: &mongodbatlas.Specs{InstanceSize: jsii.String(size), NodeCount: jsii.Number(3)},
			}},
		}},
	})
	s.Cluster.Node().AddDependency(s.EncryptionAtRest)
	s.Cluster.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	return s
}
