package ledger

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// CheckpointRead is what a role reads audit-ledger checkpoints from (the writer's weekly verify
// of the peer's replica, the on-call role's recovery after a restore).
type CheckpointRead struct {
	// ListSid, ReadSid and DecryptSid name the three statements.
	ListSid, ReadSid, DecryptSid string
	// BucketArns are the exact checkpoint buckets.
	BucketArns []string
	// KeyArns are the buckets' KMS keys; their IDs are generated in other stacks, so these are
	// per-region patterns narrowed by KeyAliases.
	KeyArns []string
	// KeyAliases are the keys' aliases ("alias/...").
	KeyAliases []string
	// ViaServices are the S3 endpoints of the buckets' regions ("s3.<region>.amazonaws.com").
	ViaServices []string
}

// CheckpointReadStatements are the three statements that read checkpoints exactly as
// internal/ledger's CheckpointBucket does (through MergedCheckpoints): ListObjectVersions under
// checkpoints/ (s3:ListBucketVersions; a second version of a checkpoint is reported as tampering),
// then GetObject and GetObjectRetention of each listed key, always the current version (no
// s3:GetObjectVersion) and never a key it did not list (no s3:ListBucket). The buckets are SSE-KMS:
// their keys decrypt only through S3, only under the aliases and only for the buckets' objects
// (S3 names the bucket in aws:s3:arn with S3 Bucket Keys, which the locked buckets enable, the
// object without one). Nothing is writable.
func CheckpointReadStatements(r CheckpointRead) []awsiam.PolicyStatement {
	var objects, contexts []string
	for _, b := range r.BucketArns {
		objects = append(objects, b+"/"+checkpointPrefix+"*")
		contexts = append(contexts, b, b+"/"+checkpointPrefix+"*")
	}
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String(r.ListSid),
			Actions: jsii.Strings("s3:ListBucketVersions"), Resources: jsii.Strings(r.BucketArns...),
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": checkpointPrefix}}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String(r.ReadSid),
			Actions: jsii.Strings("s3:GetObject", "s3:GetObjectRetention"), Resources: jsii.Strings(objects...)}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String(r.DecryptSid),
			Actions: jsii.Strings("kms:Decrypt"), Resources: jsii.Strings(r.KeyArns...),
			Conditions: &map[string]interface{}{
				"StringEquals":             map[string]interface{}{"kms:ViaService": oneOrMany(r.ViaServices)},
				"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": oneOrMany(r.KeyAliases)},
				"StringLike":               map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": contexts},
			}}),
	}
}

// oneOrMany renders a single condition value as a string, as IAM documents usually show it.
func oneOrMany(v []string) interface{} {
	if len(v) == 1 {
		return v[0]
	}
	return v
}
