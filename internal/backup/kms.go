package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// KMS is the part of AWS KMS the package needs. Implementations must honour the encryption
// context: Decrypt with a context other than the one given to GenerateDataKey must fail.
type KMS interface {
	// GenerateDataKey returns a fresh 256-bit data key in plaintext and wrapped under keyID, and
	// the ARN of the key that wrapped it.
	GenerateDataKey(ctx context.Context, keyID string, encryptionContext map[string]string) (plaintext, wrapped []byte, keyARN string, err error)
	// Decrypt unwraps a data key wrapped under keyID; KMS refuses a blob wrapped under another key.
	// The package always names the key (there is no "any key" path).
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
		var api smithy.APIError
		switch {
		case errors.As(err, &wrongKey), errors.As(err, &notFound):
			return nil, fmt.Errorf("%w: %w", errKMSWrongKey, err)
		case errors.As(err, &invalid):
			return nil, fmt.Errorf("%w: %w", errKMSInvalidCiphertext, err)
		case errors.As(err, &api) && api.ErrorCode() == "ValidationException":
			return nil, fmt.Errorf("%w: %w", errKMSValidation, err)
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
	// errKMSValidation: KMS refused the request's shape (an empty or impossible ciphertext blob).
	errKMSValidation = errors.New("kms: request refused as malformed")
)

// ErrKMSWrongKey and ErrKMSInvalidCiphertext are the errors a KMS implementation (a test fake, or
// an adapter of another SDK) wraps so the package classifies failures like it does for AWS KMS.
var (
	ErrKMSWrongKey          = errKMSWrongKey
	ErrKMSInvalidCiphertext = errKMSInvalidCiphertext
	ErrKMSValidation        = errKMSValidation
)

// keyID returns the key ID of a KMS key ARN ("arn:aws:kms:<region>:<account>:key/<id>") or a bare
// key ID, and "" for an alias or anything else it cannot compare. A multi-Region key and its
// replicas share their ID ("mrk-..."), so a backup written under the primary matches its replica.
func keyID(k string) string {
	if _, id, ok := strings.Cut(k, ":key/"); ok && strings.HasPrefix(k, "arn:") {
		return id
	}
	if k != "" && !strings.Contains(k, "/") && !strings.Contains(k, ":") {
		return k
	}
	return ""
}

// unwrap is what unwrapDataKey checks a wrapped data key against.
type unwrap struct {
	// allowed are the KMS keys the data key may be wrapped under (required; there is no "any key").
	allowed []string
	// claimed is the key the manifest or envelope header says wrapped it (kmsKeyArn).
	claimed string
	wrapped []byte
	ec      map[string]string
	// what names the object in messages ("backup <id>"); damaged is the error kind of a damaged or
	// tampered container (ErrManifestMismatch for a manifest, ErrTampered for an envelope).
	what    string
	damaged error
}

// unwrapDataKey decrypts a wrapped data key with one of the allowed keys only (KMS enforces it:
// Decrypt names the key) and classifies a failure by its cause, so the message says what to do:
//   - no allowed key given: ErrKeysRequired (configuration);
//   - the container claims a key that is not allowed: ErrWrongKey, naming it (an attacker's backup
//     in the bucket, or a backup of another platform);
//   - no wrapped key, or one KMS cannot parse or that does not belong to the key the container
//     names: the container is damaged or tampered (u.damaged), not a key or IAM problem;
//   - KMS refuses with the right context: ErrEncryptionContext (backup ID or region edited);
//   - access denied, disabled key, KMS unreachable: ErrKMSUnavailable, with the IAM hint.
func unwrapDataKey(ctx context.Context, k KMS, u unwrap) ([]byte, error) {
	if len(u.allowed) == 0 {
		return nil, newErr(ErrKeysRequired, nil, hintKeysRequired, "%s", u.what)
	}
	hint := hintManifest
	if u.damaged == ErrTampered {
		hint = hintTampered
	}
	if len(u.wrapped) == 0 {
		return nil, newErr(u.damaged, nil, hint, "%s has no wrapped data key: it was removed or cut off, so the container is damaged or was tampered with", u.what)
	}
	claimedID := keyID(u.claimed)
	comparable, matches := claimedID != "", false
	var order []string
	for _, a := range u.allowed {
		id := keyID(a)
		comparable = comparable && id != ""
		if id != "" && id == claimedID {
			matches = true
			order = append([]string{a}, order...)
		} else {
			order = append(order, a)
		}
	}
	if comparable && !matches {
		return nil, newErr(ErrWrongKey, nil, hintWrongKey, "%s says its data key is wrapped under KMS key %q, which is not one of the keys restores accept (%s)",
			u.what, u.claimed, strings.Join(u.allowed, ", "))
	}
	var wrongKey, invalid, other error
	for _, a := range order {
		key, err := k.Decrypt(ctx, a, u.wrapped, u.ec)
		switch {
		case err == nil:
			if len(key) != 32 {
				clear(key)
				return nil, newErr(u.damaged, nil, hint, "%s: KMS returned a %d-byte data key, want 32: the wrapped data key was altered", u.what, len(key))
			}
			return key, nil
		case errors.Is(err, errKMSWrongKey):
			wrongKey = errors.Join(wrongKey, err)
		case errors.Is(err, errKMSInvalidCiphertext):
			invalid = errors.Join(invalid, err)
		case errors.Is(err, errKMSValidation):
			return nil, newErr(u.damaged, err, hint, "%s: KMS cannot parse its wrapped data key: the container is damaged or was tampered with", u.what)
		default:
			other = errors.Join(other, err)
		}
	}
	switch {
	case other != nil && wrongKey == nil && invalid == nil:
		return nil, newErr(ErrKMSUnavailable, other, hintKMSUnavailable, "%s: KMS could not unwrap the data key with %s", u.what, strings.Join(u.allowed, ", "))
	case matches && wrongKey != nil:
		return nil, newErr(u.damaged, wrongKey, hint, "%s names KMS key %q, but its data key is not wrapped under that key: the container is damaged or was tampered with", u.what, u.claimed)
	case !comparable && wrongKey != nil && invalid == nil:
		return nil, newErr(ErrWrongKey, wrongKey, hintWrongKey, "%s: the data key is not wrapped under any of the keys restores accept (%s); the container names %q", u.what, strings.Join(u.allowed, ", "), u.claimed)
	}
	return nil, newErr(ErrEncryptionContext, errors.Join(invalid, wrongKey, other), hintContext,
		"%s: KMS refused to unwrap the data key under encryption context %v with %s: the wrapped data key, the backup ID or the source region was altered (a damaged or tampered container)",
		u.what, u.ec, strings.Join(u.allowed, ", "))
}
