// Package pinnedkeys is the one text format of pinned audit-ledger signing keys,
// "<key ARN>=<base64 DER public key>[,...]": `caro audit public-key` prints an item, the CDK app reads
// it from context (constructs/ledger) and the writer reads it from CARO_LEDGER_PEER_PUBLIC_KEYS. It
// uses the standard library only, so the CDK app can share it with the running code: definitions
// the deployed infrastructure and the running code must agree on.
package pinnedkeys

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key is a ledger signing key's public half, named by the key ARN checkpoints carry.
type Key struct {
	KeyArn string
	DER    []byte // PKIX SubjectPublicKeyInfo
}

// String is the key's item, "<key ARN>=<base64 DER>".
func (k Key) String() string { return k.KeyArn + "=" + base64.StdEncoding.EncodeToString(k.DER) }

// Format joins the keys' items with commas.
func Format(keys []Key) string {
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = k.String()
	}
	return strings.Join(items, ",")
}

// Parse reads comma-separated items (whitespace around items ignored, empty value: no keys). Each
// item needs a key ID and standard padded base64 of a DER public key; no key ID twice. What the ID
// must look like (an exact KMS key ARN in a given region) is for the caller to check.
func Parse(value string) ([]Key, error) {
	var out []Key
	seen := map[string]bool{}
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, b64, ok := strings.Cut(item, "=")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		if !ok || id == "" || b64 == "" {
			return nil, fmt.Errorf("item %q is not <key ARN>=<base64 DER public key>", short(item))
		}
		if seen[id] {
			return nil, fmt.Errorf("key %s is given twice", id)
		}
		der, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("key %s: the public key is not base64 (standard, padded): %w", id, err)
		}
		if _, err := x509.ParsePKIXPublicKey(der); err != nil {
			return nil, fmt.Errorf("key %s: the base64 does not decode to a DER public key (SubjectPublicKeyInfo): %w", id, err)
		}
		seen[id] = true
		out = append(out, Key{KeyArn: id, DER: der})
	}
	return out, nil
}

// short keeps an error message readable when a whole public key was pasted in the wrong place.
func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
