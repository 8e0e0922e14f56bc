// Package peershare declares Custom::PeerShare (lambdas/peershare): each region's platform stack
// gives its peer region a replica of its multi-Region backup key and writes, into the peer region's
// SSM Parameter Store, the replica's ARN and its ledger signing key, which the peer reads at run
// time. CloudFormation can neither create a resource nor read a parameter in another region, and
// the two regions need each other's values, so no stack waits for its peer and one `cdk deploy
// --all` brings up both.
package peershare

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

// BackupKeyTagKey and BackupKeyTagValue tag every backup key and replica, so roles in other
// stacks name the replicas (generated key IDs) by aws:ResourceTag.
const (
	BackupKeyTagKey   = "caro:backup-key"
	BackupKeyTagValue = "platform"
)

// ParameterBackupKey and ParameterLedgerKeys are the parameters region writes into its peer's
// region (internal/peershare, which constructs may not import, names them the same).
func ParameterBackupKey(region string) string { return "/caro/peers/" + region + "/backup-key-arn" }
func ParameterLedgerKeys(region string) string {
	return "/caro/peers/" + region + "/ledger-public-keys"
}

// Props configure the share of one region with its peer.
type Props struct {
	// Function is lambdas/peershare (its role is granted here).
	Function awslambda.Function
	// Region is the stack's region, PeerRegion the one that receives.
	Region, PeerRegion string
	// BackupKeyArn is the region's multi-Region backup key; SigningKey its ledger signing key.
	BackupKeyArn *string
	SigningKey   awskms.IKey
	// ReplicateBackupKey is false when the peer's stack declares the replica itself (the
	// backupKeyArn:<region> context override).
	ReplicateBackupKey bool
}

// New declares the share, with exactly the permissions its function needs.
func New(scope constructs.Construct, id string, p *Props) awscdk.CustomResource {
	if p == nil || p.Function == nil || p.Function.Role() == nil || p.Region == "" || p.PeerRegion == "" || p.BackupKeyArn == nil || p.SigningKey == nil {
		panic("peershare.New: Function (with its role), Region, PeerRegion, BackupKeyArn and SigningKey are required")
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	account := awscdk.Stack_Of(c).Account()
	policy := grant(c, p, *account)
	// The replica's key policy: like the backup key's, the account administers it through IAM.
	keyPolicy := awscdk.Fn_Sub(jsii.String(`{"Version":"2012-10-17","Statement":[{"Sid":"AccountAdministersThroughIAM","Effect":"Allow",`+
		`"Principal":{"AWS":"arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},"Action":"kms:*","Resource":"*"}]}`), nil)
	replicate := "true"
	if !p.ReplicateBackupKey {
		replicate = "false"
	}
	cr := awscdk.NewCustomResource(c, jsii.String("Share"), &awscdk.CustomResourceProps{
		ServiceToken: p.Function.FunctionArn(),
		ResourceType: jsii.String("Custom::PeerShare"),
		Properties: &map[string]interface{}{
			"Region": p.Region, "PeerRegion": p.PeerRegion, "BackupKeyArn": p.BackupKeyArn, "SigningKeyArn": p.SigningKey.KeyArn(),
			"ReplicateBackupKey": replicate, "KeyPolicy": keyPolicy, "TagKey": BackupKeyTagKey, "TagValue": BackupKeyTagValue,
		},
	})
	cr.Node().AddDependency(policy)
	return cr
}

// grant follows https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-auth.html
// (ReplicateKey: kms:ReplicateKey on the primary, kms:CreateKey and kms:TagResource in the replica
// region, the service-linked role of multi-Region keys) and Parameter Store's ssm:PutParameter.
func grant(c constructs.Construct, p *Props, account string) awsiam.ManagedPolicy {
	peerKeys := fmt.Sprintf("arn:aws:kms:%s:%s:key/*", p.PeerRegion, account)
	st := func(sid string, actions []string, resources []*string, conditions map[string]interface{}) awsiam.PolicyStatement {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources}
		if conditions != nil {
			props.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(props)
	}
	statements := []awsiam.PolicyStatement{
		st("ReadSigningPublicKey", []string{"kms:GetPublicKey"}, []*string{p.SigningKey.KeyArn()}, nil),
		st("WritePeerParameters", []string{"ssm:PutParameter"}, []*string{jsii.String(fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/caro/peers/%s/*", p.PeerRegion, account, p.Region))}, nil),
		st("FindPeerReplica", []string{"kms:DescribeKey"}, []*string{jsii.String(fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-*", p.PeerRegion, account))}, nil),
	}
	if p.ReplicateBackupKey {
		statements = append(statements,
			st("ReplicateBackupKey", []string{"kms:ReplicateKey"}, []*string{p.BackupKeyArn}, nil),
			st("CreateReplicaInPeer", []string{"kms:CreateKey"}, []*string{jsii.String("*")},
				map[string]interface{}{"StringEquals": map[string]interface{}{"aws:RequestedRegion": p.PeerRegion}}),
			st("TagReplica", []string{"kms:TagResource"}, []*string{jsii.String(peerKeys)},
				map[string]interface{}{"StringEquals": map[string]interface{}{"aws:RequestTag/" + BackupKeyTagKey: BackupKeyTagValue}}),
			st("MultiRegionKeyServiceRole", []string{"iam:CreateServiceLinkedRole"},
				[]*string{jsii.String(fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/mrk.kms.amazonaws.com/AWSServiceRoleForKeyManagementServiceMultiRegionKeys", account))},
				map[string]interface{}{"StringEquals": map[string]interface{}{"iam:AWSServiceName": "mrk.kms.amazonaws.com"}}),
		)
	}
	policy := awsiam.NewManagedPolicy(c, jsii.String("Policy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Peer share: replicate the backup key into " + p.PeerRegion + " and write the peer's parameters there"),
		Roles:       &[]awsiam.IRole{p.Function.Role()},
		Statements:  &statements,
	})
	nagcheck.Suppress(policy, "AwsSolutions-IAM5",
		"kms:CreateKey has no resource ARN (limited to the peer region); the replica's key ID is the backup key's, generated, so the peer's key/mrk-* "+
			"is only described and key/* only tagged with the backup-key tag; parameters only under /caro/peers/<region>/ of the peer; "+
			"the function runs only as this stack's custom resource")
	return policy
}
