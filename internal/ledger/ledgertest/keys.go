package ledgertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
)

// PublicKeyDER returns the public half of a fresh ECDSA P-256 key as DER (PKIX), the form KMS
// GetPublicKey returns for a ledger signing key and `caro audit public-key` prints in base64.
func PublicKeyDER(tb testing.TB) []byte {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
