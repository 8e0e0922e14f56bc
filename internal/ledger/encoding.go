package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carohealth/platform/internal/audit"
)

// HashSize is the size of every hash in the ledger (SHA-256).
const HashSize = sha256.Size

// Domain tags: the first field of each encoding, so an entry encoding can never be taken for a
// checkpoint encoding or for a later version's.
const (
	entryTag        = "caro.ledger.entry.v1"
	checkpointTag   = "caro.ledger.checkpoint.v1"
	checkpointTagV2 = "caro.ledger.checkpoint.v2"
)

// Hash is a SHA-256 value.
type Hash [HashSize]byte

// String returns the lowercase hex form used in storage and JSON.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero bytes (the prevHash of entry 0).
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads a hex hash exactly as written by Hash.String: 64 lowercase hex digits. Upper case
// is refused although it decodes to the same bytes: stored and signed hashes have one form only, so
// a rewritten copy is never accepted as the original.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize || !isLowerHex(s) {
		return h, fmt.Errorf("malformed hash %q: want %d lowercase hex digits", s, 2*HashSize)
	}
	_, _ = hex.Decode(h[:], []byte(s))
	return h, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encoder writes length-prefixed fields (4-byte big-endian length, then the bytes).
type encoder struct{ buf []byte }

func (e *encoder) bytes(b []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) str(s string) { e.bytes([]byte(s)) }

func (e *encoder) u64(v uint64) { e.bytes(binary.BigEndian.AppendUint64(nil, v)) }

func (e *encoder) i64(v int64) { e.u64(uint64(v)) }

// canonicalTime is the time as the ledger keeps it: UTC, truncated to the millisecond MongoDB stores.
func canonicalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// eventFieldCount is the number of audit.Event fields EncodeEntry covers; a test compares it with
// the struct so a new field cannot slip into entries unhashed.
const eventFieldCount = 12

// EncodeEntry returns the canonical encoding of entry seq (see the package doc).
func EncodeEntry(seq uint64, prev Hash, ev audit.Event) []byte {
	e := &encoder{buf: make([]byte, 0, 512)}
	e.str(entryTag)
	e.u64(seq)
	e.bytes(prev[:])
	e.str(ev.ID)
	e.i64(canonicalTime(ev.Time).UnixMilli())
	e.str(ev.Actor)
	e.str(ev.TenantID)
	e.str(ev.Action)
	e.str(ev.ResourceType)
	e.str(ev.ResourceID)
	e.str(ev.SubjectRef)
	e.str(string(ev.Interface))
	e.str(ev.RequestID)
	e.str(ev.BeforeHash)
	e.str(ev.AfterHash)
	return e.buf
}

// EntryHash is the hash of entry seq: the RFC 6962 leaf hash of its canonical encoding. It is both the
// chain link and the Merkle leaf.
func EntryHash(seq uint64, prev Hash, ev audit.Event) Hash {
	var h Hash
	copy(h[:], rfc6962.DefaultHasher.HashLeaf(EncodeEntry(seq, prev, ev)))
	return h
}

// MarshalText writes the hash as lowercase hex (JSON strings).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
