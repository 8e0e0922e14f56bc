package localstack_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/carohealth/platform/internal/localstack"
)

func TestKMSEncryptDecrypt(t *testing.T) {
	// GIVEN a KMS client for the package's local-kms
	ctx := context.Background()
	client := kms.NewFromConfig(localstack.AWSConfig("eu-west-1", kmsSrv.Endpoint()))

	// WHEN a key is created and used to encrypt
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: new("localstack test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if !strings.Contains(*key.KeyMetadata.Arn, ":"+localstack.KMSAccountID+":key/") {
		t.Errorf("key ARN %q lacks account %s", *key.KeyMetadata.Arn, localstack.KMSAccountID)
	}
	plain := []byte("patient 42")
	enc, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}

	// THEN the ciphertext decrypts to the plaintext
	if bytes.Contains(enc.CiphertextBlob, plain) {
		t.Fatal("ciphertext contains the plaintext")
	}
	dec, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, plain) {
		t.Fatalf("Decrypt = %q, want %q", dec.Plaintext, plain)
	}
}

func TestKMSStopFreesPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := localstack.StartKMS(ctx, localstack.WithKMSRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("Endpoint() = %q, want http://127.0.0.1:PORT", k.Endpoint())
	}
	client := kms.NewFromConfig(localstack.AWSConfig(k.Region(), k.Endpoint()))
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if !strings.HasPrefix(*key.KeyMetadata.Arn, "arn:aws:kms:us-east-1:") {
		t.Errorf("ARN %q is not in us-east-1", *key.KeyMetadata.Arn)
	}

	if err := k.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertPortFree(t, k.Addr())
}
