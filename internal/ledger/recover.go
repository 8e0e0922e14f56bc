package ledger

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"
)

// ErrDiverged is returned (wrapped) when the database's ledger disagrees with the signed
// checkpoints, so recovering would chain onto entries the checkpoints do not anchor.
var ErrDiverged = errors.New("the ledger in the database diverges from the signed checkpoints")

// ErrNotRecoverable is returned (wrapped) when the missing entries are anchored only by checkpoints
// written before checkpoint objects carried their entries.
var ErrNotRecoverable = errors.New("the missing entries are not in the checkpoint objects")

// RecoveryStore is the database side of a recovery: the entries and the checkpoint records
// (MongoStore).
type RecoveryStore interface {
	EntryStore
	CheckpointRecords
}

// RecoverOptions say where to recover from and into.
type RecoverOptions struct {
	// Store is the restored database's ledger.
	Store RecoveryStore
	// Checkpoints and Locks are the checkpoint bucket: the region's own, or during an outage of
	// the primary the standby region's replica of it (CheckpointBucket implements both).
	Checkpoints CheckpointReader
	Locks       RetentionInspector
	// PublicKey verifies checkpoint signatures (a pinned PEM when the signing region is down).
	PublicKey crypto.PublicKey
	// PublicKeys, when not empty, replace PublicKey: the pinned keys by key ID, each checkpoint
	// verified with the key it names (checkpoints of both regions after a failover).
	PublicKeys KeyRing
	// RetentionYears is the minimum Object Lock retention (default DefaultRetentionYears).
	RetentionYears int
	// MaxAge is the checkpointer's MaxAge (default DefaultMaxAge), reported as the most audit
	// time that may be lost: entries no checkpoint anchored yet.
	MaxAge time.Duration
	// Progress, when set, receives progress lines.
	Progress func(string)
}

// RecoveryReport says what Recover found and did.
type RecoveryReport struct {
	// CheckpointsVerified is the number of checkpoints that verified (from checkpoint 0).
	CheckpointsVerified int `json:"checkpointsVerified"`
	// StoredEntries is the length of the database's verified chain before the recovery.
	StoredEntries uint64 `json:"storedEntries"`
	// EntriesRecovered is the number of entries appended from the checkpoints.
	EntriesRecovered uint64 `json:"entriesRecovered"`
	// CheckpointRecordsRestored is the number of ledger_checkpoints records inserted.
	CheckpointRecordsRestored int `json:"checkpointRecordsRestored"`
	// AnchoredTreeSize is the number of entries the verified checkpoints anchor.
	AnchoredTreeSize uint64 `json:"anchoredTreeSize"`
	// LastCheckpoint, LastAnchoredSeq and LastCheckpointTime describe the last verified checkpoint.
	LastCheckpoint     *uint64    `json:"lastCheckpoint,omitempty"`
	LastAnchoredSeq    *uint64    `json:"lastAnchoredSeq,omitempty"`
	LastCheckpointTime *time.Time `json:"lastCheckpointTime,omitempty"`
	// UnanchoredEntries are entries in the database after the last checkpoint (kept, not checked
	// against any checkpoint; the next checkpoint anchors them).
	UnanchoredEntries uint64 `json:"unanchoredEntries"`
	// MaxLossWindow is the checkpointer's MaxAge: entries appended after the last checkpoint and
	// lost with the database are in no checkpoint and cannot be recovered; at most this much.
	MaxLossWindow string `json:"maxLossWindow"`
	// Unrecoverable states that limit in words.
	Unrecoverable string `json:"unrecoverable"`
	// CheckpointProblem, when set, is why a later checkpoint did not verify: entries it anchors
	// were not recovered (run caro audit verify on the bucket).
	CheckpointProblem string `json:"checkpointProblem,omitempty"`
	// HoldReleased says the restore's ledger hold was removed (the recovery completed); HoldKept,
	// when set, says why a hold was left in place (appends stay refused).
	HoldReleased bool   `json:"holdReleased,omitempty"`
	HoldKept     string `json:"holdKept,omitempty"`
}

// Recover restores the ledger of a database rolled back by a backup or snapshot restore from the
// checkpoint bucket. One verification with the Verifier's own code checks every checkpoint and the
// stored chain with the missing anchored entries taken from the checkpoints in their places (the
// tail the restore removed, and any gap a writer that cached the pre-restore head left before the
// entries it appended), each checked like a stored entry: content hash, signed leaf hash, link to
// the entry before. It refuses, writing nothing, when anything then does not verify, or a checkpoint
// record differs from the signed checkpoint (ErrDiverged), or a missing entry is only in a
// checkpoint that carries no entries (ErrNotRecoverable). Otherwise it inserts the missing
// checkpoint records first (so a checkpointer running meanwhile cuts nothing over the anchored
// range; it waits until the entries are back) and then the missing entries. Running it again does
// nothing more (idempotent); after an interruption it continues. The audit writer should not append
// while it runs: an append in the missing range makes it stop with ErrDiverged; the restore's
// ledger hold (HoldCollection) keeps it from doing so, and Recover removes the hold when the
// recovery completed (every checkpoint verified), and only then. On any error the hold stays.
func Recover(ctx context.Context, o RecoverOptions) (*RecoveryReport, error) {
	years, maxAge := o.RetentionYears, o.MaxAge
	if years <= 0 {
		years = DefaultRetentionYears
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	v := &Verifier{Entries: o.Store, Checkpoints: o.Checkpoints, Locks: o.Locks, PublicKey: o.PublicKey, PublicKeys: o.PublicKeys, RetentionYears: years}
	progress("verifying the checkpoints and the stored chain")
	st, err := v.verify(ctx, VerifyOptions{}, true)
	if err != nil {
		return nil, fmt.Errorf("recovering the ledger: %w", err)
	}
	missing := st.filled
	rep := &RecoveryReport{CheckpointsVerified: len(st.good), StoredEntries: st.next - uint64(len(missing)), UnanchoredEntries: st.rep.UnanchoredEntries,
		MaxLossWindow: maxAge.String()}
	if st.cpProblem != nil {
		rep.CheckpointProblem = st.cpProblem.Reason
	}
	good := st.good
	if len(good) > 0 {
		last := good[len(good)-1]
		rep.AnchoredTreeSize = last.TreeSize
		lastNum, lastSeq, lastTime := last.Number, last.TreeSize-1, last.Time
		rep.LastCheckpoint, rep.LastAnchoredSeq, rep.LastCheckpointTime = &lastNum, &lastSeq, &lastTime
		rep.Unrecoverable = fmt.Sprintf("entries appended after checkpoint %d (cut %s, anchoring entries up to %d) are in no checkpoint: "+
			"those lost with the database cannot be recovered; the checkpointer anchors every entry within %s (MaxAge) or after Interval entries",
			lastNum, lastTime.UTC().Format(time.RFC3339), lastSeq, maxAge)
	}
	if p := st.entryProblem; p != nil {
		if c := st.unfillable; c != nil && p.Seq >= c.FirstSeq && p.Seq < c.TreeSize {
			return rep, fmt.Errorf("%w: entry %d is missing and anchored by checkpoint %d, which was written before checkpoints carried their entries; "+
				"nothing was written: restore a backup taken after entry %d was appended", ErrNotRecoverable, p.Seq, c.Number, c.TreeSize-1)
		}
		return rep, fmt.Errorf("%w at %s; nothing was written. Entries were appended to the restored database before the recovery, "+
			"or the ledger was altered: keep the database as it is, run `caro audit verify`, and escalate (the checkpoints in the bucket remain the evidence)", ErrDiverged, p)
	}
	if len(good) == 0 {
		if st.cpProblem != nil {
			return rep, fmt.Errorf("no checkpoint verifies, so nothing can be recovered: %s", st.cpProblem.Reason)
		}
		rep.Unrecoverable = "the bucket holds no checkpoint: nothing to recover"
		return rep, releaseHold(ctx, o.Store, rep, progress)
	}
	record, err := o.Store.LastCheckpoint(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading the last checkpoint record: %w", err)
	}
	firstRecord := uint64(0)
	if record != nil {
		firstRecord = record.Number + 1
		if record.Number < uint64(len(good)) && record.Digest() != good[record.Number].Digest() {
			return rep, fmt.Errorf("%w: the database's record of checkpoint %d differs from the signed checkpoint %d in the bucket "+
				"(a checkpoint was cut from the restored database before the recovery); nothing was written: keep the database as it is and escalate",
				ErrDiverged, record.Number, record.Number)
		}
	}

	// A restore made without indexes (mongorestore --noIndexRestore) lacks the unique eventId index
	// that keeps one entry per event: create it before inserting.
	if ix, ok := o.Store.(interface{ EnsureIndexes(context.Context) error }); ok && (len(missing) > 0 || firstRecord < uint64(len(good))) {
		if err := ix.EnsureIndexes(ctx); err != nil {
			return rep, fmt.Errorf("preparing the ledger collections, nothing was written: %w", err)
		}
	}
	// Checkpoint records first: the checkpointer then sees the anchored range as taken.
	for n := firstRecord; n < uint64(len(good)); n++ {
		if err := o.Store.InsertCheckpoint(ctx, good[n]); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return rep, fmt.Errorf("checkpoint record %d was written by someone else meanwhile (is the audit writer running? stop it), then run the recovery again: %w", n, err)
			}
			return rep, fmt.Errorf("restoring checkpoint record %d: %w (run the recovery again: it continues)", n, err)
		}
		rep.CheckpointRecordsRestored++
	}
	if rep.CheckpointRecordsRestored > 0 {
		progress(fmt.Sprintf("restored %d checkpoint records (%d..%d)", rep.CheckpointRecordsRestored, firstRecord, len(good)-1))
	}
	if len(missing) > 0 {
		progress(fmt.Sprintf("inserting %d missing entries (%d..%d) from the checkpoints", len(missing), missing[0], missing[len(missing)-1]))
	}
	src := &entrySource{r: o.Checkpoints}
	ci := 0
	for _, seq := range missing {
		// The entries are read again, one checkpoint at a time, and must be the ones verified:
		// same content hash and the signed leaf hash, and the event ID the unique index is kept on
		// must be the event's own (it is outside the hash).
		for good[ci].TreeSize <= seq {
			ci++
		}
		c := good[ci]
		e, ok, err := src.entry(ctx, c, seq)
		if err != nil {
			return rep, fmt.Errorf("reading the entries of checkpoint %d: %w (%d recovered; run the recovery again: it continues)", c.Number, err, rep.EntriesRecovered)
		}
		if !ok || e.Seq != seq || e.EventID != e.Event.ID || e.Recompute() != e.Hash || e.Hash != c.LeafHashes[seq-c.FirstSeq] {
			return rep, fmt.Errorf("entry %d read again from checkpoint %d is not the one verified (%d recovered): run the recovery again", seq, c.Number, rep.EntriesRecovered)
		}
		err = o.Store.Insert(ctx, e)
		if errors.Is(err, ErrDuplicate) {
			got, ok, gerr := o.Store.EntryAt(ctx, e.Seq)
			if gerr == nil && ok && got.Hash == e.Hash {
				continue // a concurrent recovery wrote the same entry
			}
			return rep, fmt.Errorf("%w: entry %d (event %s) was written meanwhile with other contents, so it was not recovered (%d entries were): "+
				"stop the audit writer, run `caro audit verify`, and escalate", ErrDiverged, e.Seq, e.EventID, rep.EntriesRecovered)
		}
		if err != nil {
			return rep, fmt.Errorf("recovering entry %d: %w (%d recovered; run the recovery again: it continues)", e.Seq, err, rep.EntriesRecovered)
		}
		rep.EntriesRecovered++
		if rep.EntriesRecovered%1000 == 0 {
			progress(fmt.Sprintf("%d entries recovered", rep.EntriesRecovered))
		}
	}
	return rep, releaseHold(ctx, o.Store, rep, progress)
}

// releaseHold removes the restore's ledger hold after a recovery that completed, and only then: when
// a later checkpoint did not verify, entries it anchors may still be missing and the hold stays.
func releaseHold(ctx context.Context, store RecoveryStore, rep *RecoveryReport, progress func(string)) error {
	r, ok := store.(HoldReleaser)
	if !ok {
		return nil
	}
	if rep.CheckpointProblem != "" {
		if hc, ok := store.(HoldChecker); ok {
			if h, err := hc.Held(ctx); err == nil && h == nil {
				return nil
			}
		}
		rep.HoldKept = "a later checkpoint does not verify, so entries it anchors may still be missing: the ledger hold stays " +
			"(appends are refused) until a recovery with every checkpoint's key completes, or `caro audit release-hold` is run"
		progress("WARNING: " + rep.HoldKept)
		return nil
	}
	released, err := r.ReleaseHold(ctx)
	if err != nil {
		return fmt.Errorf("the ledger was recovered but %w: run the recovery again (it writes nothing more and removes the hold)", err)
	}
	if released {
		rep.HoldReleased = true
		progress("removed the ledger hold: the audit writer appends again")
	}
	return nil
}
