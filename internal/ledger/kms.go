package ledger

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSAPI is the part of the KMS client the signer uses.
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// KMSSigner signs checkpoint digests with an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY):
// the private key never leaves KMS, and anyone with the public key verifies offline.
type KMSSigner struct {
	Client KMSAPI
	// Key is the key ARN (recorded in every checkpoint).
	Key string
}

// KeyID implements Signer.
func (s *KMSSigner) KeyID() string { return s.Key }

// Algorithm implements Signer.
func (s *KMSSigner) Algorithm() string { return AlgECDSASHA256 }

// SignDigest implements Signer (MessageType DIGEST: the message is already the SHA-256).
func (s *KMSSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	out, err := s.Client.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(s.Key), Message: digest, MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("KMS Sign with %s: %w", s.Key, err)
	}
	return out.Signature, nil
}

// PublicKey implements Signer.
func (s *KMSSigner) PublicKey(ctx context.Context) ([]byte, error) {
	out, err := s.Client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.Key)})
	if err != nil {
		return nil, fmt.Errorf("KMS GetPublicKey of %s: %w", s.Key, err)
	}
	return out.PublicKey, nil
}
