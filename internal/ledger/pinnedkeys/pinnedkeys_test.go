package pinnedkeys_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

func TestParseReadsWhatFormatWrites(t *testing.T) {
	// GIVEN two public keys
	der := func() []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		return b
	}
	keys := []pinnedkeys.Key{{KeyArn: "arn:aws:kms:eu-west-1:123456789012:key/a", DER: der()}, {KeyArn: "arn:aws:kms:eu-west-1:123456789012:key/b", DER: der()}}
	// WHEN they are formatted and read back, with spaces and an empty item around
	got, err := pinnedkeys.Parse(" " + pinnedkeys.Format(keys) + " , ")
	// THEN the same keys come back in order
	if err != nil || len(got) != 2 || got[0].KeyArn != keys[0].KeyArn || string(got[1].DER) != string(keys[1].DER) {
		t.Fatalf("Parse(Format(keys)) = %v, %v", got, err)
	}
	// AND an empty value is no keys, not an error
	if got, err := pinnedkeys.Parse(" "); err != nil || got != nil {
		t.Fatalf("Parse(empty) = %v, %v", got, err)
	}
	// AND bad items are refused saying why
	item := keys[0].String()
	for name, tc := range map[string]struct{ value, want string }{
		"no equals sign": {keys[0].KeyArn, "is not <key ARN>=<base64 DER public key>"},
		"not base64":     {keys[0].KeyArn + "=not*base64", "not base64"},
		"not a key":      {keys[0].KeyArn + "=" + base64.StdEncoding.EncodeToString([]byte("hello")), "does not decode to a DER public key"},
		"twice":          {item + "," + item, "given twice"},
	} {
		if _, err := pinnedkeys.Parse(tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
