// Package peershare is the logic of the CloudFormation custom resource Custom::PeerShare
// (lambdas/peershare is its thin main), with which each region's platform stack hands its peer
// what the peer needs while this region is down, so one `cdk deploy --all` brings up both regions
// without anyone copying values between them:
//
//   - a replica, in the peer region, of this region's multi-Region backup key (KMS ReplicateKey,
//     called in this region; a replica that exists already is kept), so the peer decrypts this
//     region's backups;
//   - SSM parameters in the peer region, read there at run time: ParameterBackupKey (that
//     replica's ARN) and ParameterLedgerKeys (this region's ledger signing key, the
//     "<key ARN>=<base64 DER>" item of internal/ledger/pinnedkeys, from KMS GetPublicKey).
//
// CloudFormation cannot create a resource or read a parameter in another region, and the two
// regions need each other's values symmetrically, so a stack cannot wait for its peer: each
// writes its own values into its peer's region when it is deployed, and the peer reads them when
// it runs. On delete nothing is removed: the peer may need them after this region is gone.
package peershare

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// ResourceType is the custom resource this package serves.
const ResourceType = "Custom::PeerShare"

// Properties of the custom resource (set by constructs/peershare).
const (
	PropRegion        = "Region"
	PropPeerRegion    = "PeerRegion"
	PropBackupKeyArn  = "BackupKeyArn"
	PropSigningKeyArn = "SigningKeyArn"
	// PropReplicateBackupKey is "false" when the peer's stack holds the replica itself (the
	// backupKeyArn:<region> context override).
	PropReplicateBackupKey = "ReplicateBackupKey"
	// PropKeyPolicy is the replica's key policy (JSON); PropTagKey/PropTagValue tag it.
	PropKeyPolicy = "KeyPolicy"
	PropTagKey    = "TagKey"
	PropTagValue  = "TagValue"
)

// ParameterBackupKey is the SSM parameter, in region peer's region, that holds the ARN of the
// replica there of region's backup key.
func ParameterBackupKey(region string) string { return "/caro/peers/" + region + "/backup-key-arn" }

// ParameterLedgerKeys is the SSM parameter, in region's peer's region, that holds region's
// ledger signing key as a pinnedkeys item.
func ParameterLedgerKeys(region string) string {
	return "/caro/peers/" + region + "/ledger-public-keys"
}

// KMS is the part of the KMS client the handler uses.
type KMS interface {
	DescribeKey(context.Context, *kms.DescribeKeyInput, ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	ReplicateKey(context.Context, *kms.ReplicateKeyInput, ...func(*kms.Options)) (*kms.ReplicateKeyOutput, error)
	GetPublicKey(context.Context, *kms.GetPublicKeyInput, ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// SSM is the part of the SSM client the handler uses.
type SSM interface {
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// Handler serves Custom::PeerShare.
type Handler struct {
	// KMS returns a KMS client of a region; SSM an SSM client.
	KMS func(region string) KMS
	SSM func(region string) SSM
}

// Handle is a cfn.CustomResourceFunction. Its data: BackupKeyReplicaArn.
func (h *Handler) Handle(ctx context.Context, event cfn.Event) (string, map[string]interface{}, error) {
	if event.ResourceType != ResourceType {
		return event.PhysicalResourceID, nil, fmt.Errorf("unknown resource type %q: this function serves %s", event.ResourceType, ResourceType)
	}
	props := map[string]string{}
	var missing []string
	for _, name := range []string{PropRegion, PropPeerRegion, PropBackupKeyArn, PropSigningKeyArn, PropKeyPolicy, PropTagKey, PropTagValue} {
		props[name], _ = event.ResourceProperties[name].(string)
		if props[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return event.PhysicalResourceID, nil, fmt.Errorf("%s: properties %s are missing: the stack must set them (constructs/peershare)", ResourceType, strings.Join(missing, ", "))
	}
	region, peer := props[PropRegion], props[PropPeerRegion]
	physicalID := region + "->" + peer
	if event.RequestType == cfn.RequestDelete {
		return event.PhysicalResourceID, nil, nil
	}
	replica, err := replicaArn(props[PropBackupKeyArn], peer)
	if err != nil {
		return physicalID, nil, err
	}
	if v, _ := event.ResourceProperties[PropReplicateBackupKey].(string); v != "false" {
		if err := h.ensureReplica(ctx, props, replica); err != nil {
			return physicalID, nil, err
		}
	}
	pub, err := h.KMS(region).GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(props[PropSigningKeyArn])})
	if err != nil {
		return physicalID, nil, fmt.Errorf("reading the public key of ledger signing key %s: %w", props[PropSigningKeyArn], err)
	}
	ledgerKeys := props[PropSigningKeyArn] + "=" + base64.StdEncoding.EncodeToString(pub.PublicKey)
	for name, value := range map[string]string{ParameterBackupKey(region): replica, ParameterLedgerKeys(region): ledgerKeys} {
		_, err := h.SSM(peer).PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
			Description: aws.String("Written by the " + region + " platform stack (Custom::PeerShare); read here while " + region + " may be down"),
		})
		if err != nil {
			return physicalID, nil, fmt.Errorf("writing %s in %s: %w", name, peer, err)
		}
	}
	return physicalID, map[string]interface{}{"BackupKeyReplicaArn": replica}, nil
}

// ensureReplica replicates the backup key into the peer region unless a replica is there.
func (h *Handler) ensureReplica(ctx context.Context, props map[string]string, replica string) error {
	peer := props[PropPeerRegion]
	_, err := h.KMS(peer).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(replica)})
	var api smithy.APIError
	switch {
	case err == nil:
		return nil // a replica exists (an earlier deploy, or the context override's)
	case !errors.As(err, &api) || api.ErrorCode() != "NotFoundException":
		return fmt.Errorf("looking for the replica %s: %w", replica, err)
	}
	_, err = h.KMS(props[PropRegion]).ReplicateKey(ctx, &kms.ReplicateKeyInput{
		KeyId: aws.String(props[PropBackupKeyArn]), ReplicaRegion: aws.String(peer), Policy: aws.String(props[PropKeyPolicy]),
		Description: aws.String("Caro backups: replica of " + props[PropRegion] + "'s multi-Region backup key, for restores in " + peer + " while " + props[PropRegion] + " is down"),
		Tags:        []kmstypes.Tag{{TagKey: aws.String(props[PropTagKey]), TagValue: aws.String(props[PropTagValue])}},
	})
	if err != nil {
		return fmt.Errorf("replicating backup key %s into %s: %w", props[PropBackupKeyArn], peer, err)
	}
	return nil
}

// replicaArn is the ARN a multi-Region key's replica has in region (same key ID).
func replicaArn(primary, region string) (string, error) {
	parts := strings.SplitN(primary, ":", 6)
	if len(parts) != 6 || parts[2] != "kms" || !strings.HasPrefix(parts[5], "key/mrk-") {
		return "", fmt.Errorf("backup key %q is not a multi-Region key ARN (arn:aws:kms:<region>:<account>:key/mrk-...)", primary)
	}
	parts[3] = region
	return strings.Join(parts, ":"), nil
}
