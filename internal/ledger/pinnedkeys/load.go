package pinnedkeys

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Set is what an operator pinned, as the verifiers take it: either one key without a key ID
// (Single: it checks checkpoints of any key ID, the pin of a first failover) or keys by the key
// ARN the checkpoints name (ByKeyID: each checkpoint is checked with the key it names, any other
// key is refused). Keys are DER SubjectPublicKeyInfo.
type Set struct {
	Single  []byte
	ByKeyID map[string][]byte
}

// Empty reports whether no key is pinned.
func (s Set) Empty() bool { return s.Single == nil && len(s.ByKeyID) == 0 }

// Load is the one reader of pinned ledger public keys as operators give them: a flag's values
// (--public-key, repeatable), or the setting ledger-public-keys (CARO_LEDGER_PUBLIC_KEY, the
// committed regions/environment.json). Each value may hold several comma-separated items, each in
// one of three forms:
//
//   - "<key ARN>=<base64 DER>", the committed form (Parse, Format; 'caro audit public-key' prints it);
//   - "<key ARN>=FILE", FILE a PEM ("PUBLIC KEY") or DER public key file;
//   - "FILE", one key without its key ID, given alone.
//
// The key-ID forms may be mixed; a FILE without ID beside other items, or a key ID given twice,
// is refused. source names the values in errors (like "--public-key"); errors name files, never
// their content (it may be a private key given by mistake). No values (or only empty items) is an
// empty Set, not an error: whether a pin is required is the caller's decision.
func Load(source string, values ...string) (Set, error) {
	var items []string
	for _, v := range values {
		for _, it := range strings.Split(v, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
	}
	var s Set
	var plain []string
	for _, it := range items {
		id, ref, ok := strings.Cut(it, "=")
		if !ok {
			plain = append(plain, it)
			continue
		}
		id, ref = strings.TrimSpace(id), strings.TrimSpace(ref)
		if id == "" || ref == "" {
			return Set{}, fmt.Errorf("invalid %s %q: give KEYID=FILE (or KEYID=<base64 DER>), KEYID the key ARN the checkpoints name", source, it)
		}
		der, err := keyOf(source, id, ref)
		if err != nil {
			return Set{}, err
		}
		if _, dup := s.ByKeyID[id]; dup {
			return Set{}, fmt.Errorf("invalid %s: key %s is given twice", source, id)
		}
		if s.ByKeyID == nil {
			s.ByKeyID = map[string][]byte{}
		}
		s.ByKeyID[id] = der
	}
	switch {
	case len(plain) > 1, len(plain) == 1 && s.ByKeyID != nil:
		return Set{}, fmt.Errorf("several %s values need their key IDs: give each as KEYID=FILE (or KEYID=<base64 DER>), KEYID the key ARN the checkpoints name; only a single key may be a plain FILE", source)
	case len(plain) == 1:
		der, err := readKeyFile(source, plain[0])
		if err != nil {
			return Set{}, err
		}
		s.Single = der
	}
	return s, nil
}

// keyOf reads the key of item id=ref: inline base64 DER (the committed form) or a file.
func keyOf(source, id, ref string) ([]byte, error) {
	if der, err := base64.StdEncoding.DecodeString(ref); err == nil {
		if _, err := x509.ParsePKIXPublicKey(der); err == nil {
			return der, nil
		}
	}
	der, err := readKeyFile(source, ref)
	if err != nil && looksLikeBase64(ref) {
		return nil, fmt.Errorf("invalid %s for key %s: %q is neither a readable key file nor standard base64 of a DER public key (as 'caro audit public-key' prints it)", source, id, short(ref))
	}
	return der, err
}

// readKeyFile reads a PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo file.
func readKeyFile(source, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named already
		}
		return nil, fmt.Errorf("%s %s cannot be read (%v)", source, path, err)
	}
	der := raw
	if b, _ := pem.Decode(raw); b != nil {
		der = b.Bytes
	}
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		return nil, fmt.Errorf("%s %s is not a PEM public key (want the PUBLIC KEY block 'caro audit public-key' prints, or its DER SubjectPublicKeyInfo)", source, path)
	}
	return der, nil
}

// looksLikeBase64 tells a pasted (broken) key from a file name, for the error message: long and
// made only of the base64 alphabet.
func looksLikeBase64(s string) bool {
	if len(s) < 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			return false
		}
	}
	return true
}
