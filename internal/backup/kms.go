package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS is the part of AWS KMS the package needs. Implementations must honour the encryption
// context: Decrypt with a context other than the one given to GenerateDataKey must fail.
type KMS interface {
	// GenerateDataKey returns a fresh 256-bit data key in plaintext and wrapped under keyID, and
	// the ARN of the key that wrapped it.
	GenerateDataKey(ctx context.Context, keyID string, encryptionContext map[string]string) (plaintext, wrapped []byte, keyARN string, err error)
	// Decrypt unwraps a data key. keyID may be empty (KMS reads it from the blob); when set, KMS
	// refuses a blob wrapped under another key.
	Decrypt(ctx context.Context, keyID string, wrapped []byte, encryptionContext map[string]string) ([]byte, error)
}

// KMSAPI is the subset of *kms.Client that NewAWSKMS uses.
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// NewAWSKMS adapts an AWS SDK KMS client (real KMS or local-kms) to KMS.
func NewAWSKMS(client KMSAPI) KMS { return awsKMS{client} }

type awsKMS struct{ c KMSAPI }

func (a awsKMS) GenerateDataKey(ctx context.Context, keyID string, ec map[string]string) ([]byte, []byte, string, error) {
	out, err := a.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("kms GenerateDataKey with %s: %w", keyID, err)
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

func (a awsKMS) Decrypt(ctx context.Context, keyID string, wrapped []byte, ec map[string]string) ([]byte, error) {
	in := &kms.DecryptInput{CiphertextBlob: wrapped, EncryptionContext: ec}
	if keyID != "" {
		in.KeyId = aws.String(keyID)
	}
	out, err := a.c.Decrypt(ctx, in)
	if err != nil {
		var wrongKey *types.IncorrectKeyException
		var notFound *types.NotFoundException
		var invalid *types.InvalidCiphertextException
		switch {
		case errors.As(err, &wrongKey), errors.As(err, &notFound):
			return nil, fmt.Errorf("%w: %w", errKMSWrongKey, err)
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("%w: %w", errKMSInvalidCiphertext, err)
		}
		return nil, err
	}
	return out.Plaintext, nil
}

// Errors a KMS implementation may wrap so callers can tell a wrong key from a wrong context.
var (
	// errKMSWrongKey: the blob was wrapped under another key than the one asked for, or the key
	// does not exist.
	errKMSWrongKey = errors.New("kms: blob not wrapped under this key")
	// errKMSInvalidCiphertext: KMS could not unwrap the blob with this encryption context (KMS
	// does not say which of blob or context is wrong).
	errKMSInvalidCiphertext = errors.New("kms: invalid ciphertext or encryption context")
)

// ErrKMSWrongKey and ErrKMSInvalidCiphertext are the errors a KMS implementation (a test fake, or
// an adapter of another SDK) wraps so the package classifies failures like it does for AWS KMS.
var (
	ErrKMSWrongKey          = errKMSWrongKey
	ErrKMSInvalidCiphertext = errKMSInvalidCiphertext
)

// unwrapDataKey decrypts a wrapped data key and classifies the failure for the user.
func unwrapDataKey(ctx context.Context, k KMS, keyID string, wrapped []byte, ec map[string]string, what string) ([]byte, error) {
	key, err := k.Decrypt(ctx, keyID, wrapped, ec)
	switch {
	case err == nil:
		if len(key) != 32 {
			return nil, newErr(ErrWrongKey, nil, hintWrongKey, "%s: KMS returned a %d-byte data key, want 32", what, len(key))
		}
		return key, nil
	case errors.Is(err, errKMSWrongKey):
		return nil, newErr(ErrWrongKey, err, hintWrongKey, "%s: KMS key %q did not wrap this data key", what, keyID)
	case errors.Is(err, errKMSInvalidCiphertext):
		if keyID != "" {
			// Some KMS implementations (local-kms) answer a blob of another key with
			// InvalidCiphertext. If the blob opens without the key constraint, the context is
			// right and the key is wrong; the key obtained that way is discarded.
			if other, err2 := k.Decrypt(ctx, "", wrapped, ec); err2 == nil {
				clear(other)
				return nil, newErr(ErrWrongKey, err, hintWrongKey, "%s: the data key was not wrapped under KMS key %q", what, keyID)
			}
		}
		return nil, newErr(ErrEncryptionContext, err, hintContext, "%s: KMS refused to unwrap the data key with encryption context %v", what, ec)
	default:
		return nil, newErr(ErrWrongKey, err, hintWrongKey, "%s: KMS could not unwrap the data key", what)
	}
}
