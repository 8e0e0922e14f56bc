package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/carohealth/platform/internal/audit"
)

// ErrDuplicate is returned by store inserts when a unique index refused the document (the sequence
// number or the event ID is taken).
var ErrDuplicate = errors.New("duplicate key")

// EntryStore is where entries live: MongoStore in production, an in-memory store in unit tests.
// It offers inserts and reads only; there is deliberately no update or delete.
type EntryStore interface {
	EntryReader
	// Head returns the entry with the highest Seq; ok is false when the ledger is empty.
	Head(ctx context.Context) (e Entry, ok bool, err error)
	// Insert adds e; ErrDuplicate (wrapped) when e.Seq or e.EventID is already taken.
	Insert(ctx context.Context, e Entry) error
	// EntryByEventID finds the entry of an event.
	EntryByEventID(ctx context.Context, id string) (e Entry, ok bool, err error)
	// EntryAt finds entry seq (a point lookup on the unique sequence index).
	EntryAt(ctx context.Context, seq uint64) (e Entry, ok bool, err error)
}

// HeadHinter is optionally implemented by an EntryStore that remembers the highest entry it has
// seen. The hint may be stale (lower than the real head) but never ahead of it, because entries are
// never removed; a stale hint only costs a failed insert.
type HeadHinter interface {
	CachedHead() (Entry, bool)
}

// Ledger appends audit events to the chain.
type Ledger struct {
	Store EntryStore
	// MaxAttempts bounds the retries of a contended append (default 100).
	MaxAttempts int
}

// Append validates ev and adds it as the next entry. When the event is already in the ledger (a
// redelivery) it returns that entry and created=false. Concurrent appends from any number of
// processes leave one gap-free chain: see the package doc. While the ledger hold exists (a restored
// database not yet recovered) it writes nothing and returns ErrLedgerHeld (wrapped), a retryable error.
func (l *Ledger) Append(ctx context.Context, ev audit.Event) (e Entry, created bool, err error) {
	if err := ev.Validate(); err != nil {
		return Entry{}, false, err
	}
	if err := CheckNoPersonalData(ev); err != nil {
		return Entry{}, false, err
	}
	// One point read: while a restore's hold exists, an append would fork the chain from the
	// signed checkpoints (Recover could then never put the rolled-back entries back).
	if err := heldError(ctx, l.Store); err != nil {
		return Entry{}, false, fmt.Errorf("appending event %s: %w", ev.ID, err)
	}
	ev.Time = canonicalTime(ev.Time)
	attempts := l.MaxAttempts
	if attempts <= 0 {
		attempts = 100
	}
	hinter, _ := l.Store.(HeadHinter)
	for i := 0; i < attempts; i++ {
		var head Entry
		var ok bool
		var err error
		if hinter != nil && i == 0 {
			// Optimistic: the last head this process saw. If another writer has appended since, the
			// insert fails on the unique _id and the next attempt reads the real head.
			head, ok = hinter.CachedHead()
		}
		if !ok {
			if head, ok, err = l.Store.Head(ctx); err != nil {
				return Entry{}, false, fmt.Errorf("appending event %s: reading the ledger head: %w", ev.ID, err)
			}
		}
		next := NewEntry(0, Hash{}, ev)
		if ok {
			next = NewEntry(head.Seq+1, head.Hash, ev)
		}
		err = l.Store.Insert(ctx, next)
		if err == nil {
			return next, true, nil
		}
		if !errors.Is(err, ErrDuplicate) {
			return Entry{}, false, fmt.Errorf("appending event %s: %w", ev.ID, err)
		}
		// A unique index refused the insert: either another writer took this sequence number, or
		// the event is already in the ledger (a redelivery). Tell them apart with point lookups.
		taken, ok, err := l.Store.EntryAt(ctx, next.Seq)
		if err != nil {
			return Entry{}, false, fmt.Errorf("appending event %s: reading entry %d: %w", ev.ID, next.Seq, err)
		}
		if !ok || taken.EventID == ev.ID {
			existing, found, err := l.Store.EntryByEventID(ctx, ev.ID)
			if err != nil {
				return Entry{}, false, fmt.Errorf("appending event %s: looking for an earlier delivery: %w", ev.ID, err)
			}
			if found {
				return sameEvent(existing, ev)
			}
			// Neither: the conflicting entry vanished (only tampering deletes); re-read and retry.
		}
		// Another writer took this sequence number: back off briefly with jitter so contending
		// writers spread out, then re-read the head.
		select {
		case <-ctx.Done():
			return Entry{}, false, ctx.Err()
		case <-time.After(time.Duration(rand.IntN(1+min(i, 20))) * time.Millisecond):
		}
	}
	return Entry{}, false, fmt.Errorf("appending event %s: still contended after %d attempts; the message will be retried", ev.ID, attempts)
}

// sameEvent returns the existing entry of a redelivered event, or an error when the event ID was
// reused for different content (which must never be written over, nor silently accepted).
func sameEvent(existing Entry, ev audit.Event) (Entry, bool, error) {
	a, b := existing.Event, ev
	a.Time, b.Time = canonicalTime(a.Time), canonicalTime(b.Time)
	if !reflect.DeepEqual(a, b) {
		return Entry{}, false, fmt.Errorf("audit event %s is already in the ledger (entry %d) with different contents: refusing the second version; investigate the producer", ev.ID, existing.Seq)
	}
	return existing, false, nil
}
