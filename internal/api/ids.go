package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// NewID returns a random resource ID: 128 bits from crypto/rand as 32 lowercase hex characters, so
// IDs cannot be guessed or enumerated.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("api: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s has the format NewID produces. Checked before an ID reaches a query.
func ValidID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
