package ledger

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/carohealth/platform/internal/audit"
)

// Entry is one ledger record: the audit event at position Seq, chained to the entry before it.
type Entry struct {
	// Seq is the position in the log, from 0, gap-free; also the Merkle leaf index.
	Seq uint64 `json:"seq"`
	// EventID repeats Event.ID at the top level for its unique index (one entry per event).
	EventID string `json:"eventId"`
	// PrevHash is the Hash of entry Seq-1 (zero for entry 0).
	PrevHash Hash `json:"prevHash"`
	// Hash is EntryHash(Seq, PrevHash, Event).
	Hash Hash `json:"hash"`
	// Event is the audited change, with Time in canonical form (UTC milliseconds).
	Event audit.Event `json:"event"`

	// malformed, when set, says why the stored document this entry was read from is not in the
	// form Append writes (decodeStoredEntry): the verifier reports it as an altered entry.
	malformed string
	// contents, when hashed, is Recompute() worked out already (by a parallel scan's worker).
	contents Hash
	hashed   bool
}

// NewEntry builds entry seq after prev for ev, normalising the event time to the stored precision.
func NewEntry(seq uint64, prev Hash, ev audit.Event) Entry {
	ev.Time = canonicalTime(ev.Time)
	return Entry{Seq: seq, EventID: ev.ID, PrevHash: prev, Hash: EntryHash(seq, prev, ev), Event: ev}
}

// Recompute returns the hash the entry's contents give, to compare with the stored Hash.
func (e Entry) Recompute() Hash { return EntryHash(e.Seq, e.PrevHash, e.Event) }

// contentHash is Recompute, taken from the scan that read e when it worked it out already.
func (e Entry) contentHash() Hash {
	if e.hashed {
		return e.contents
	}
	return e.Recompute()
}

var (
	// identifierRE is what identifier fields may hold: IDs, Cognito subs, action names. No spaces,
	// no '@', nothing that free text (a name, an e-mail address, a note) could fit in.
	identifierRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	// hexDigestRE is a hex SHA-256 digest (or HMAC-SHA-256 keyed hash).
	hexDigestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// CheckNoPersonalData refuses an event whose fields could carry personal data into the ledger, where
// it could never be erased: identifier fields (id, actor, tenantId, action, resourceType, resourceId,
// requestId) must be short identifiers ([A-Za-z0-9._:/-], at most 128 characters, no spaces or '@'),
// and subjectRef, beforeHash and afterHash must be lowercase hex SHA-256 digests when set (the
// subject reference is a keyed hash made with the subject's key, so it is personal data only while
// that key exists; erasing the subject destroys the key). It runs after audit.Event.Validate.
func CheckNoPersonalData(ev audit.Event) error {
	for _, f := range []struct{ name, v string }{
		{"id", ev.ID}, {"actor", ev.Actor}, {"tenantId", ev.TenantID}, {"action", ev.Action},
		{"resourceType", ev.ResourceType}, {"resourceId", ev.ResourceID}, {"requestId", ev.RequestID},
	} {
		if !utf8.ValidString(f.v) || !identifierRE.MatchString(f.v) {
			return fmt.Errorf("audit event %q refused: %s is not an identifier (letters, digits and ._:/- only, "+
				"at most 128): the ledger keeps entries for years and cannot erase free text, so send IDs, never names or text", ev.ID, f.name)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"subjectRef", ev.SubjectRef}, {"beforeHash", ev.BeforeHash}, {"afterHash", ev.AfterHash},
	} {
		if f.v != "" && !hexDigestRE.MatchString(f.v) {
			return fmt.Errorf("audit event %q refused: %s must be a lowercase hex SHA-256 digest (64 characters): "+
				"the ledger stores only hashes of subjects and states", ev.ID, f.name)
		}
	}
	return nil
}
