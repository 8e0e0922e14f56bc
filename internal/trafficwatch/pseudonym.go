package trafficwatch

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Pseudonymizer replaces addresses and principals with keyed hashes: equal inputs give equal
// pseudonyms under one key, and without the key a pseudonym cannot be tested against guesses
// (an unkeyed hash of an IPv4 address is reversed by trying all 2^32).
type Pseudonymizer struct{ key []byte }

// NewPseudonymizer uses key (at least 32 bytes). With a nil key it draws a random one: pseudonyms
// are then stable only within one Lambda instance, which is enough to compare the alerts of one
// burst; the request IDs in the alert lead to the real values in the access-controlled logs.
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("draw pseudonym key: %w", err)
		}
	}
	if len(key) < 32 {
		return nil, errors.New("pseudonym key must be at least 32 bytes (64 hex characters)")
	}
	return &Pseudonymizer{key: append([]byte(nil), key...)}, nil
}

// Pseudonym returns kind-<16 hex> for value, or "" for an empty value.
func (p *Pseudonymizer) Pseudonym(kind, value string) string {
	if value == "" {
		return ""
	}
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return kind + "-" + hex.EncodeToString(mac.Sum(nil)[:8])
}
