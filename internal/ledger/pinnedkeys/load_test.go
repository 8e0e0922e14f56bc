package pinnedkeys_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

func newDER(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writeKeyFile(t *testing.T, name string, body []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const arnA, arnB, arnC = "arn:aws:kms:eu-west-1:123456789012:key/a", "arn:aws:kms:eu-central-1:123456789012:key/b", "arn:aws:kms:eu-west-1:123456789012:key/c"

func TestLoadReadsEveryFormOperatorsGiveKeysIn(t *testing.T) {
	// GIVEN three keys: A committed (<key ARN>=<base64 DER>), B in a PEM file, C in a DER file
	a, b, c := newDER(t), newDER(t), newDER(t)
	committed := pinnedkeys.Key{KeyArn: arnA, DER: a}.String()
	pemB := writeKeyFile(t, "b.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b}))
	derC := writeKeyFile(t, "c.der", c)

	// WHEN loaded as one setting value (comma-separated) and as repeated flag values
	for name, values := range map[string][]string{
		"one value":       {committed + ", " + arnB + "=" + pemB + "," + arnC + "=" + derC},
		"repeated values": {committed, arnB + "=" + pemB, "", arnC + "=" + derC},
	} {
		s, err := pinnedkeys.Load("--public-key", values...)
		// THEN every key is in the ring under its key ARN
		if err != nil || s.Single != nil || len(s.ByKeyID) != 3 || !bytes.Equal(s.ByKeyID[arnA], a) || !bytes.Equal(s.ByKeyID[arnB], b) || !bytes.Equal(s.ByKeyID[arnC], c) {
			t.Fatalf("%s: Load = %+v, %v", name, s, err)
		}
	}
	// AND the committed form alone is what Parse reads
	s, err := pinnedkeys.Load("ledger-public-keys", pinnedkeys.Format([]pinnedkeys.Key{{KeyArn: arnA, DER: a}, {KeyArn: arnB, DER: b}}))
	if err != nil || len(s.ByKeyID) != 2 || !bytes.Equal(s.ByKeyID[arnB], b) {
		t.Fatalf("committed: %+v, %v", s, err)
	}
	// AND one file without a key ID is the single key
	s, err = pinnedkeys.Load("CARO_LEDGER_PUBLIC_KEY", pemB)
	if err != nil || !bytes.Equal(s.Single, b) || s.ByKeyID != nil || s.Empty() {
		t.Fatalf("single: %+v, %v", s, err)
	}
	// AND nothing given is an empty set, not an error
	if s, err := pinnedkeys.Load("--public-key", "", " , "); err != nil || !s.Empty() {
		t.Fatalf("empty: %+v, %v", s, err)
	}
}

func TestLoadRefusesWhatItCannotTrustSayingWhy(t *testing.T) {
	a := newDER(t)
	pemA := writeKeyFile(t, "a.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: a}))
	private := writeKeyFile(t, "private.pem", []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsecretsecretsecretsecretsecretsecretsecretoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"))
	good := base64.StdEncoding.EncodeToString(a)
	for name, tc := range map[string]struct {
		values []string
		want   string
	}{
		"two files without IDs":   {[]string{pemA, pemA}, "need their key IDs"},
		"a file without ID mixed": {[]string{pemA, arnA + "=" + pemA}, "need their key IDs"},
		"an empty key ID":         {[]string{"=" + pemA}, "KEYID=FILE"},
		"an empty key":            {[]string{arnA + "="}, "KEYID=FILE"},
		"a key ID twice":          {[]string{arnA + "=" + pemA, arnA + "=" + good}, "key " + arnA + " is given twice"},
		"a missing file":          {[]string{arnA + "=/nonexistent/a.pem"}, "--public-key /nonexistent/a.pem cannot be read"},
		"not a public key":        {[]string{private}, "is not a PEM public key"},
		"a broken pasted key":     {[]string{arnA + "=" + good[:len(good)-8] + "AAAAAAA="}, "neither a readable key file nor standard base64"},
	} {
		_, err := pinnedkeys.Load("--public-key", tc.values...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secretsecret") {
			t.Errorf("%s: the error echoes a file's content: %v", name, err)
		}
	}
}
