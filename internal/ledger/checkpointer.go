package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// CheckpointRecords is the database copy of the checkpoints, used only to elect one writer per
// checkpoint number (unique index); the verifier never trusts it, it reads the bucket.
type CheckpointRecords interface {
	// LastCheckpoint returns the checkpoint with the highest number, nil when there is none.
	LastCheckpoint(ctx context.Context) (*Checkpoint, error)
	// InsertCheckpoint records c; ErrDuplicate (wrapped) when its number is taken.
	InsertCheckpoint(ctx context.Context, c *Checkpoint) error
}

// CheckpointPublisher writes checkpoints to the Object Lock bucket.
type CheckpointPublisher interface {
	// Publish stores c under c.ObjectKey() with Object Lock COMPLIANCE until retainUntil. Publishing
	// a checkpoint that is already stored is a no-op.
	Publish(ctx context.Context, c *Checkpoint, retainUntil time.Time) error
}

// Defaults of Checkpointer.
const (
	DefaultInterval  = 1000
	DefaultMaxAge    = 5 * time.Minute
	DefaultMaxLeaves = 4096
	// DefaultCheckpointSchedule is how often the audit writer runs the checkpointer when no events
	// arrive (constructs/ledger CheckpointSchedule): an entry is anchored at the latest MaxAge plus
	// this after its event time, so a verification reports an entry left unanchored longer.
	DefaultCheckpointSchedule = 5 * time.Minute
)

// Checkpointer cuts, signs and publishes checkpoints.
type Checkpointer struct {
	Entries   EntryStore
	Records   CheckpointRecords
	Bucket    CheckpointPublisher
	Signer    Signer
	Interval  uint64        // cut when this many entries are unanchored (default DefaultInterval)
	MaxAge    time.Duration // or when the oldest unanchored entry is older than this (default DefaultMaxAge)
	MaxLeaves int           // never anchor more entries in one checkpoint (default DefaultMaxLeaves)
	// RetentionYears sets the retain-until date (default DefaultRetentionYears).
	RetentionYears int
	Now            func() time.Time

	mu           sync.Mutex // guards the cache of the oldest unanchored entry's time and the publish mark
	pendingFrom  uint64
	pendingTime  time.Time
	pendingKnown bool
	// published is the highest checkpoint number this checkpointer published (publishedKnown).
	published      uint64
	publishedKnown bool
	// last is the newest checkpoint this checkpointer recorded or read: the next run starts from
	// it without reading the records (on FerretDB a query sorting them reads all of them). Another
	// writer's newer checkpoint makes the next insert fail on its number, which re-reads them.
	last *Checkpoint
}

// Run cuts every checkpoint that is due and returns them. It first republishes the last recorded
// checkpoint if a crash left it unpublished. Safe to run concurrently: one writer wins each number.
// While the ledger hold exists it does nothing and returns ErrLedgerHeld (wrapped).
func (c *Checkpointer) Run(ctx context.Context) ([]*Checkpoint, error) {
	interval, maxAge, maxLeaves, years := c.Interval, c.MaxAge, c.MaxLeaves, c.RetentionYears
	if interval == 0 {
		interval = DefaultInterval
	}
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if maxLeaves <= 0 {
		maxLeaves = DefaultMaxLeaves
	}
	if years <= 0 {
		years = DefaultRetentionYears
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	// A checkpoint cut from a restored database before its recovery would anchor the rolled-back
	// state under a number the bucket already holds: cut nothing while the hold exists.
	if err := heldError(ctx, c.Records); err != nil {
		return nil, fmt.Errorf("cutting checkpoints: %w", err)
	}
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	var err error
	if last == nil {
		if last, err = c.Records.LastCheckpoint(ctx); err != nil {
			return nil, fmt.Errorf("reading the last checkpoint: %w", err)
		}
	}
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if last != nil && (c.last == nil || last.Number > c.last.Number) {
			c.last = last
		}
	}()
	if last != nil && !c.isPublished(last.Number) {
		// The record carries no entries: attach them from the entries collection, so a checkpoint
		// a crash left unpublished is published in full. When they cannot be read as anchored (only
		// after tampering or a restore, which verify and Recover report), it is published without
		// them rather than not at all; an object already in the bucket is left as it is.
		full, err := c.withEntries(ctx, last)
		if err != nil {
			return nil, err
		}
		if err := c.Bucket.Publish(ctx, full, RetainUntil(last.Time, years)); err != nil {
			return nil, fmt.Errorf("publishing checkpoint %d: %w", last.Number, err)
		}
		c.markPublished(last.Number)
	}
	var made []*Checkpoint
	hinter, _ := c.Entries.(HeadHinter)
	for {
		// The head this process last saw is enough: it is never ahead of the real head, and entries
		// appended by other writers are anchored by their own runs or a later one.
		var head Entry
		var ok bool
		if hinter != nil {
			head, ok = hinter.CachedHead()
		}
		if !ok {
			if head, ok, err = c.Entries.Head(ctx); err != nil {
				return made, fmt.Errorf("reading the ledger head: %w", err)
			}
		}
		var from uint64
		var prevHash Hash
		if last != nil {
			from, prevHash = last.TreeSize, last.LeafHashes[len(last.LeafHashes)-1]
		}
		if !ok || head.Seq+1 <= from {
			return made, nil
		}
		pending := head.Seq + 1 - from
		if pending < interval {
			oldest, err := c.oldestPending(ctx, from)
			if err != nil {
				return made, err
			}
			if now().Sub(oldest) < maxAge {
				return made, nil
			}
		}
		entries, err := c.readEntries(ctx, from, prevHash, min(pending, uint64(maxLeaves)))
		if err != nil {
			return made, err
		}
		leaves := make([]Hash, len(entries))
		for i, e := range entries {
			leaves[i] = e.Hash
		}
		cp, err := NextCheckpoint(last, leaves, now(), c.Signer.KeyID(), c.Signer.Algorithm())
		if err != nil {
			return made, err
		}
		cp.Entries = entries
		if err := cp.Sign(ctx, c.Signer); err != nil {
			return made, err
		}
		if err := c.Records.InsertCheckpoint(ctx, cp); err != nil {
			if !errors.Is(err, ErrDuplicate) {
				return made, fmt.Errorf("recording checkpoint %d: %w", cp.Number, err)
			}
			// Another writer cut this number; continue from theirs.
			if last, err = c.Records.LastCheckpoint(ctx); err != nil {
				return made, fmt.Errorf("reading the last checkpoint: %w", err)
			}
			continue
		}
		if err := c.Bucket.Publish(ctx, cp, RetainUntil(cp.Time, years)); err != nil {
			return made, fmt.Errorf("publishing checkpoint %d (recorded; the next run retries): %w", cp.Number, err)
		}
		c.markPublished(cp.Number)
		made = append(made, cp)
		last = cp
	}
}

// oldestPending is the event time of the first entry no checkpoint anchors yet: no entry waits
// longer than MaxAge (by its event time) to be anchored.
func (c *Checkpointer) oldestPending(ctx context.Context, from uint64) (time.Time, error) {
	c.mu.Lock()
	if c.pendingKnown && c.pendingFrom == from {
		t := c.pendingTime
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	if ec, ok := c.Entries.(EntryCache); ok {
		if cached, ok := ec.CachedEntries(from, 1); ok {
			c.mu.Lock()
			c.pendingFrom, c.pendingTime, c.pendingKnown = from, cached[0].Event.Time, true
			c.mu.Unlock()
			return cached[0].Event.Time, nil
		}
	}
	e, ok, err := c.Entries.EntryAt(ctx, from)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading entry %d: %w", from, err)
	}
	if !ok {
		return time.Time{}, fmt.Errorf("not checkpointing: entry %d is missing; run `caro audit verify`", from)
	}
	c.mu.Lock()
	c.pendingFrom, c.pendingTime, c.pendingKnown = from, e.Event.Time, true
	c.mu.Unlock()
	return e.Event.Time, nil
}

// isPublished reports whether this checkpointer has published checkpoint n (or a later one) itself,
// so a run does not re-send the last checkpoint, which carries up to MaxLeaves entries, every time.
func (c *Checkpointer) isPublished(n uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.publishedKnown && c.published >= n
}

func (c *Checkpointer) markPublished(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.publishedKnown || n > c.published {
		c.published, c.publishedKnown = n, true
	}
}

// withEntries returns cp with the entries it anchors attached, read from the entries collection;
// cp itself when it has them already or they cannot be read exactly as anchored.
func (c *Checkpointer) withEntries(ctx context.Context, cp *Checkpoint) (*Checkpoint, error) {
	if len(cp.Entries) > 0 || len(cp.LeafHashes) == 0 {
		return cp, nil
	}
	var prev Hash
	if cp.FirstSeq > 0 {
		e, ok, err := c.Entries.EntryAt(ctx, cp.FirstSeq-1)
		if err != nil {
			return nil, fmt.Errorf("reading entry %d: %w", cp.FirstSeq-1, err)
		}
		if !ok {
			return cp, nil
		}
		prev = e.Hash
	}
	n := len(cp.LeafHashes)
	entries := make([]Entry, 0, n)
	err := c.Entries.ScanEntries(ctx, cp.FirstSeq, func(e Entry) error {
		if e.malformed != "" {
			return errStop // not as anchored: published without entries (see Run)
		}
		entries = append(entries, e)
		if len(entries) == n {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		// A read error must not publish a checkpoint without its entries for good: retry later.
		return nil, fmt.Errorf("reading the entries of checkpoint %d: %w", cp.Number, err)
	}
	full := *cp
	full.Entries = entries
	if full.CheckEntries(prev) != nil {
		return cp, nil
	}
	return &full, nil
}

// EntryCache is optionally implemented by an EntryStore that keeps the entries it inserted
// (MongoStore): the checkpointer anchors those without reading them back.
type EntryCache interface {
	CachedEntries(from, n uint64) ([]Entry, bool)
}

// readEntries reads n entries from seq from, checking each links to the one before and matches its
// hash: a checkpoint must never anchor a broken chain. Entries this process appended come from
// the store's cache (EntryCache), checked the same way.
func (c *Checkpointer) readEntries(ctx context.Context, from uint64, prev Hash, n uint64) ([]Entry, error) {
	if ec, ok := c.Entries.(EntryCache); ok {
		if cached, ok := ec.CachedEntries(from, n); ok {
			for i, e := range cached {
				if e.PrevHash != prev || e.Recompute() != e.Hash {
					return nil, fmt.Errorf("not checkpointing: the chain is broken at entry %d; run `caro audit verify`", from+uint64(i))
				}
				prev = e.Hash
			}
			return cached, nil
		}
	}
	leaves := make([]Entry, 0, n)
	err := c.Entries.ScanEntries(ctx, from, func(e Entry) error {
		want := from + uint64(len(leaves))
		if e.malformed != "" {
			return fmt.Errorf("not checkpointing: entry %d is altered (%s); run `caro audit verify`", want, e.malformed)
		}
		if e.Seq != want || e.PrevHash != prev || e.contentHash() != e.Hash {
			return fmt.Errorf("not checkpointing: the chain is broken at entry %d; run `caro audit verify`", want)
		}
		leaves = append(leaves, e)
		prev = e.Hash
		if uint64(len(leaves)) == n {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if uint64(len(leaves)) != n {
		return nil, fmt.Errorf("not checkpointing: entries %d..%d are missing; run `caro audit verify`", from+uint64(len(leaves)), from+n-1)
	}
	return leaves, nil
}
