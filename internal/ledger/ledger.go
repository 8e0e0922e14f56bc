package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/audit"
)

// ErrDuplicate is returned by store inserts when a unique index refused the document (the sequence
// number or the event ID is taken).
var ErrDuplicate = errors.New("duplicate key")

// DuplicateError says which unique index refused an insert: the entry's sequence number (another
// writer took it) or its event ID (the event is in the ledger already). It wraps ErrDuplicate.
type DuplicateError struct {
	Seq     uint64
	EventID string
	// OnEventID is true when the event ID index refused it, false for the sequence number.
	OnEventID bool
	Err       error
}

func (e *DuplicateError) Error() string {
	what := fmt.Sprintf("entry %d is taken", e.Seq)
	if e.OnEventID {
		what = fmt.Sprintf("event %s is in the ledger already", e.EventID)
	}
	if e.Err != nil {
		return what + ": " + e.Err.Error()
	}
	return what
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

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

// BatchInserter is optionally implemented by an EntryStore that inserts many entries in one
// request (MongoStore: one ordered insertMany): in order, stopping at the first a unique index
// refuses. inserted is how many went in; err is a *DuplicateError for a refusal.
type BatchInserter interface {
	InsertEntries(ctx context.Context, es []Entry) (inserted int, err error)
}

// HeadHinter is optionally implemented by an EntryStore that remembers the highest entry it has
// seen. The hint may be stale (lower than the real head) but never ahead of it, because entries are
// never removed; a stale hint only costs a failed insert.
type HeadHinter interface {
	CachedHead() (Entry, bool)
}

// HeadRecorder is optionally implemented by an EntryStore that keeps a shared hint of the head
// outside the entries (MongoStore: one document in HeadCollection), so a writer in another process
// finds the head with one point read of a one-document collection instead of a query over the
// entries. The hint is never trusted: an insert after a stale one is refused by the unique _id.
type HeadRecorder interface {
	// RecordedHead returns the hinted head's sequence number and hash.
	RecordedHead(ctx context.Context) (seq uint64, hash Hash, ok bool, err error)
	// RecordHead raises the hint to e (never lowers it).
	RecordHead(ctx context.Context, e Entry) error
}

// Ledger appends audit events to the chain.
type Ledger struct {
	Store EntryStore
	// MaxAttempts bounds the retries of a contended append (default 100).
	MaxAttempts int

	mu      sync.Mutex
	queue   []*appendRequest
	running bool
}

// AppendResult is the outcome of one event of AppendBatch.
type AppendResult struct {
	// Entry is the event's entry: new, or the earlier one of a redelivered event (Created false).
	Entry   Entry
	Created bool
	// Err is why this event was not appended (invalid, reused ID, held ledger, store error).
	Err error
}

type appendRequest struct {
	ctx     context.Context
	events  []audit.Event
	results []AppendResult
	done    chan struct{}
}

// Append validates ev and adds it as the next entry. When the event is already in the ledger (a
// redelivery) it returns that entry and created=false. Concurrent appends from any number of
// processes leave one gap-free chain: see the package doc. While the ledger hold exists (a restored
// database not yet recovered) it writes nothing and returns ErrLedgerHeld (wrapped), a retryable error.
func (l *Ledger) Append(ctx context.Context, ev audit.Event) (e Entry, created bool, err error) {
	res, err := l.AppendBatch(ctx, []audit.Event{ev})
	if err != nil {
		return Entry{}, false, err
	}
	return res[0].Entry, res[0].Created, res[0].Err
}

// AppendBatch appends events in order (group commit): concurrent calls on the same Ledger are
// drained by one goroutine that appends everything waiting in one ordered insert, and each caller
// gets its own results back, one per event in its order. An event that is invalid, reuses an
// event ID for other contents or cannot be written gets its own Err; the others are appended. The
// error is set only when ctx ended before the results were known (the events may have been
// appended: a redelivery then yields the same entries).
func (l *Ledger) AppendBatch(ctx context.Context, events []audit.Event) ([]AppendResult, error) {
	req := &appendRequest{ctx: ctx, events: events, results: make([]AppendResult, len(events)), done: make(chan struct{})}
	l.mu.Lock()
	l.queue = append(l.queue, req)
	if !l.running {
		l.running = true
		go l.drain()
	}
	l.mu.Unlock()
	select {
	case <-req.done:
		return req.results, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// drain appends what is queued, round after round, until the queue is empty.
func (l *Ledger) drain() {
	for {
		l.mu.Lock()
		reqs := l.queue
		l.queue = nil
		if len(reqs) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.appendRound(reqs)
		for _, r := range reqs {
			close(r.done)
		}
	}
}

// pendingEvent is one event of a round and where its result goes.
type pendingEvent struct {
	ev  audit.Event
	res *AppendResult
}

// appendRound appends the events of reqs (callers that gave up still have theirs appended: they
// were delivered, and a redelivery finds them).
func (l *Ledger) appendRound(reqs []*appendRequest) {
	ctx := context.WithoutCancel(reqs[0].ctx)
	var todo []pendingEvent
	first := map[string]*AppendResult{} // event ID -> the result of its first occurrence in the round
	var repeats []pendingEvent
	for _, r := range reqs {
		for i, ev := range r.events {
			res := &r.results[i]
			if err := ev.Validate(); err != nil {
				res.Err = err
				continue
			}
			if err := CheckNoPersonalData(ev); err != nil {
				res.Err = err
				continue
			}
			ev.Time = canonicalTime(ev.Time)
			if _, dup := first[ev.ID]; dup {
				repeats = append(repeats, pendingEvent{ev, res})
				continue
			}
			first[ev.ID] = res
			todo = append(todo, pendingEvent{ev, res})
		}
	}
	// One point read per round: while a restore's hold exists, an append would fork the chain
	// from the signed checkpoints (Recover could then never put the rolled-back entries back).
	if err := heldError(ctx, l.Store); err != nil {
		for _, p := range todo {
			p.res.Err = fmt.Errorf("appending event %s: %w", p.ev.ID, err)
		}
	} else {
		l.insertChained(ctx, todo)
	}
	// An event given twice in one round is a redelivery of the first occurrence.
	for _, p := range repeats {
		f := first[p.ev.ID]
		switch {
		case f.Err != nil:
			p.res.Err = f.Err
		default:
			p.res.Entry, p.res.Created, p.res.Err = sameEvent(f.Entry, p.ev)
		}
	}
}

// insertChained appends todo after the head, chained, in as few ordered inserts as contention
// allows: a refused sequence number (another writer appended) re-reads the head and retries the
// rest; a refused event ID (a redelivery) returns the earlier entry for that event.
func (l *Ledger) insertChained(ctx context.Context, todo []pendingEvent) {
	attempts := l.MaxAttempts
	if attempts <= 0 {
		attempts = 100
	}
	fail := func(err error) {
		for _, p := range todo {
			p.res.Err = fmt.Errorf("appending event %s: %w", p.ev.ID, err)
		}
	}
	head, ok, err := l.startHead(ctx)
	if err != nil {
		fail(fmt.Errorf("reading the ledger head: %w", err))
		return
	}
	for conflicts := 0; len(todo) > 0; {
		entries := make([]Entry, len(todo))
		for i, p := range todo {
			if ok {
				entries[i] = NewEntry(head.Seq+1, head.Hash, p.ev)
			} else {
				entries[i] = NewEntry(0, Hash{}, p.ev)
			}
			head, ok = entries[i], true
		}
		n, err := l.insert(ctx, entries)
		for i := 0; i < n; i++ {
			todo[i].res.Entry, todo[i].res.Created = entries[i], true
		}
		if n > 0 {
			l.recordHead(ctx, entries[n-1])
		}
		todo = todo[n:]
		if err == nil {
			return
		}
		var dup *DuplicateError
		if !errors.As(err, &dup) {
			fail(err)
			return
		}
		if dup.OnEventID {
			// A redelivery of todo[0]: the earlier entry is its result; the rest chains on ours.
			existing, found, lerr := l.Store.EntryByEventID(ctx, todo[0].ev.ID)
			switch {
			case lerr != nil:
				todo[0].res.Err = fmt.Errorf("appending event %s: looking for an earlier delivery: %w", todo[0].ev.ID, lerr)
			case !found:
				// The conflicting entry vanished (only tampering deletes): retry it.
				conflicts++
				if conflicts >= attempts {
					fail(fmt.Errorf("still contended after %d attempts; the message will be retried", attempts))
					return
				}
				head, ok, err = l.freshHead(ctx, entries[n])
				if err != nil {
					fail(err)
					return
				}
				continue
			default:
				todo[0].res.Entry, todo[0].res.Created, todo[0].res.Err = sameEvent(existing, todo[0].ev)
			}
			todo = todo[1:]
			if n > 0 {
				head, ok = entries[n-1], true
			} else {
				head, ok, err = l.freshHead(ctx, entries[n])
				if err != nil {
					fail(err)
					return
				}
			}
			continue
		}
		// Another writer took this sequence number: back off briefly with jitter so contending
		// writers spread out, then continue from the real head.
		conflicts++
		if conflicts >= attempts {
			fail(fmt.Errorf("still contended after %d attempts; the message will be retried", attempts))
			return
		}
		select {
		case <-ctx.Done():
			fail(ctx.Err())
			return
		case <-time.After(time.Duration(rand.IntN(1+min(conflicts, 20))) * time.Millisecond):
		}
		if head, ok, err = l.freshHead(ctx, entries[n]); err != nil {
			fail(err)
			return
		}
	}
}

// insert inserts es in order, in one request when the store can, stopping at the first refusal.
func (l *Ledger) insert(ctx context.Context, es []Entry) (int, error) {
	if bi, ok := l.Store.(BatchInserter); ok {
		return bi.InsertEntries(ctx, es)
	}
	for i, e := range es {
		if err := l.Store.Insert(ctx, e); err != nil {
			if errors.Is(err, ErrDuplicate) {
				var dup *DuplicateError
				if !errors.As(err, &dup) {
					// A store that does not say which index refused: tell them apart by the sequence number.
					taken, ok, lerr := l.Store.EntryAt(ctx, e.Seq)
					if lerr != nil {
						return i, lerr
					}
					dup = &DuplicateError{Seq: e.Seq, EventID: e.EventID, OnEventID: !ok || taken.EventID == e.EventID, Err: err}
				}
				return i, dup
			}
			return i, err
		}
	}
	return len(es), nil
}

// startHead is where a round starts: the head this process last saw, else the shared hint (checked,
// see hintedHead), else the store's head (a query over the entries).
func (l *Ledger) startHead(ctx context.Context) (Entry, bool, error) {
	if h, ok := l.Store.(HeadHinter); ok {
		if e, ok := h.CachedHead(); ok {
			return e, true, nil
		}
	}
	if e, ok, err := l.hintedHead(ctx, 0); err != nil || ok {
		return e, ok, err
	}
	return l.Store.Head(ctx)
}

// hintedHead is the shared head hint when it is at least min and the entry it names exists with
// its hash (one point read). A hint can be ahead of the entries after a database restore that
// left it in place: appending after it would leave a gap, so it is checked before it is used.
func (l *Ledger) hintedHead(ctx context.Context, min uint64) (Entry, bool, error) {
	hr, ok := l.Store.(HeadRecorder)
	if !ok {
		return Entry{}, false, nil
	}
	seq, hash, ok, err := hr.RecordedHead(ctx)
	if err != nil || !ok || seq < min {
		return Entry{}, false, err
	}
	e, ok, err := l.Store.EntryAt(ctx, seq)
	if err != nil || !ok || e.Hash != hash {
		return Entry{}, false, err
	}
	return e, true, nil
}

// freshHead is the head after a refused insert of refused: the shared hint when it moved to the
// refused sequence number or past it (checked), else the store's head found by reading entries.
func (l *Ledger) freshHead(ctx context.Context, refused Entry) (Entry, bool, error) {
	e, ok, err := l.hintedHead(ctx, refused.Seq)
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading the ledger head: %w", err)
	}
	if ok {
		return e, true, nil
	}
	e, ok, err = l.Store.Head(ctx)
	if err != nil {
		return Entry{}, false, fmt.Errorf("reading the ledger head: %w", err)
	}
	return e, ok, nil
}

// recordHead raises the shared head hint; a failure only costs another writer a query.
func (l *Ledger) recordHead(ctx context.Context, e Entry) {
	if hr, ok := l.Store.(HeadRecorder); ok {
		_ = hr.RecordHead(ctx, e)
	}
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
