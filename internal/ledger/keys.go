package ledger

import (
	"crypto"
	"fmt"
	"sort"
	"strings"
)

// KeyRing is the set of pinned checkpoint signing keys a verification trusts: key ID (the KMS key
// ARN a checkpoint names in KeyID) to its public key. After a region failover the ledger's history
// is signed by more than one key (each region signs with its own KMS key): every checkpoint is
// verified with the key its KeyID names, and a checkpoint naming a key outside the ring is refused,
// so adding a region's key never makes another key's signatures acceptable under a wrong name.
type KeyRing map[string]crypto.PublicKey

// NewKeyRing parses DER SubjectPublicKeyInfo keys by key ID.
func NewKeyRing(der map[string][]byte) (KeyRing, error) {
	ring := KeyRing{}
	for id, d := range der {
		if id == "" {
			return nil, fmt.Errorf("a pinned ledger public key has no key ID: give the KMS key ARN its checkpoints name")
		}
		pub, err := ParsePublicKey(d)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", id, err)
		}
		ring[id] = pub
	}
	return ring, nil
}

// IDs are the ring's key IDs, sorted.
func (r KeyRing) IDs() []string {
	ids := make([]string, 0, len(r))
	for id := range r {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Key returns the public key of id, or an error naming the trusted IDs when id is not pinned.
func (r KeyRing) Key(id string) (crypto.PublicKey, error) {
	if pub, ok := r[id]; ok {
		return pub, nil
	}
	return nil, fmt.Errorf("is signed by key %q, which is not one of the pinned keys (%s): refused; "+
		"if that key is the ledger's (another region's signing key), pin it too", id, strings.Join(r.IDs(), ", "))
}

// checkpointKey is the key a verification checks c's signature with: from ring by c.KeyID when the
// ring is not empty (unknown IDs refused), else the single pinned key, whatever ID c names (the
// behaviour before key rings, for one-region ledgers).
func checkpointKey(ring KeyRing, single crypto.PublicKey, c *Checkpoint) (crypto.PublicKey, error) {
	if len(ring) > 0 {
		return ring.Key(c.KeyID)
	}
	if single == nil {
		return nil, fmt.Errorf("cannot be checked: no public key is pinned")
	}
	return single, nil
}
