package ledger

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// EntryReader streams stored entries in ascending Seq order, starting at from, exactly as stored.
type EntryReader interface {
	ScanEntries(ctx context.Context, from uint64, fn func(Entry) error) error
}

// EntryCounter is optionally implemented by an EntryReader that can count every stored entry
// document, whatever its shape: a full verification then also catches documents that are not in
// the sequence at all (for example an _id of another type, which a range scan never returns).
type EntryCounter interface {
	CountEntries(ctx context.Context) (uint64, error)
}

// StoredCheckpoint is one object read from the checkpoint bucket: the parsed checkpoint, or Err when
// the object could not be read or parsed.
type StoredCheckpoint struct {
	Key        string
	Checkpoint *Checkpoint
	Err        error
	// Source names the bucket(s) it was read from when several are read (MergedCheckpoints).
	Source string
}

// CheckpointReader lists the published checkpoints in key order (ascending number).
type CheckpointReader interface {
	ListCheckpoints(ctx context.Context) ([]StoredCheckpoint, error)
}

// CheckpointEntryReader is optionally implemented by a CheckpointReader whose listing leaves out
// the entries checkpoints carry (CheckpointBucket): it reads them for one checkpoint.
type CheckpointEntryReader interface {
	CheckpointEntries(ctx context.Context, n uint64) ([]Entry, error)
}

// entrySource gives the entries a verified checkpoint carries, one checkpoint at a time: from the
// listing when it kept them, else read through CheckpointEntryReader and kept until the next
// checkpoint is asked for, so memory holds one checkpoint's entries however long the ledger.
type entrySource struct {
	r      CheckpointReader
	cached *Checkpoint
	list   []Entry
}

// entry returns entry seq carried by c (which covers seq), ok false when c carries no entries.
func (s *entrySource) entry(ctx context.Context, c *Checkpoint, seq uint64) (Entry, bool, error) {
	list := c.Entries
	if len(list) == 0 {
		if s.cached != c {
			er, ok := s.r.(CheckpointEntryReader)
			if !ok {
				return Entry{}, false, nil
			}
			es, err := er.CheckpointEntries(ctx, c.Number)
			if err != nil {
				return Entry{}, false, err
			}
			s.cached, s.list = c, es
		}
		list = s.list
	}
	if len(list) != len(c.LeafHashes) {
		return Entry{}, false, nil
	}
	return list[seq-c.FirstSeq], true, nil
}

// Retention is the Object Lock state of a stored object.
type Retention struct {
	Mode        string
	RetainUntil time.Time
}

// RetentionInspector reports the Object Lock retention of a checkpoint object. In AWS it is S3
// GetObjectRetention; it is an interface because gofakes3 has no Object Lock (see ObjectLockShim).
type RetentionInspector interface {
	Retention(ctx context.Context, key string) (Retention, error)
}

// ObjectLockCompliance is the only Object Lock mode the ledger accepts: in COMPLIANCE mode nobody,
// the root user included, can shorten the retention or delete a locked version.
const ObjectLockCompliance = "COMPLIANCE"

// DefaultRetentionYears is how long entries and checkpoints are kept (the region definition's
// audit retention; NEN 7510 / WGBO medical-record horizon is longer for the records themselves).
const DefaultRetentionYears = 9

// RetainUntil is the retain-until date written for a checkpoint cut at t: t plus years, plus one day
// so clock skew between the writer and S3 can never make it shorter than required.
func RetainUntil(t time.Time, years int) time.Time { return t.UTC().AddDate(years, 0, 1) }

// Verifier recomputes the chain and every checkpoint.
type Verifier struct {
	Entries     EntryReader
	Checkpoints CheckpointReader
	Locks       RetentionInspector
	// PublicKey verifies checkpoint signatures (from KMS GetPublicKey or a pinned PEM file), whatever
	// key ID they name: a ledger signed by one key. Ignored when PublicKeys is set.
	PublicKey crypto.PublicKey
	// PublicKeys, when not empty, are the pinned keys by key ID: each checkpoint is verified with the
	// key its KeyID names and one naming any other key is refused (a ledger continued in another
	// region after a failover is signed by both regions' keys).
	PublicKeys KeyRing
	// RetentionYears is the minimum retention each checkpoint object must carry.
	RetentionYears int
	// MaxAge and CheckpointSchedule are the checkpointer's MaxAge and how often it runs without
	// events (defaults DefaultMaxAge, DefaultCheckpointSchedule): every entry is anchored within
	// their sum after its event time, so an entry left unanchored longer, and a checkpoint the
	// database recorded longer ago that the bucket lacks, are findings (see unanchoredWindow).
	MaxAge, CheckpointSchedule time.Duration
	// Now is the clock those ages are measured with (default time.Now).
	Now func() time.Time
	// Verifications are where an incremental verification finds its start (default: Checkpoints
	// when it implements VerificationStore).
	Verifications VerificationStore
	// Seals are the yearly segments' seals (default: Checkpoints when it implements SealStore).
	// Verification starts after the newest segment whose retention has ended (segment.go).
	Seals SealStore
}

// CheckpointRecord is one of the database's checkpoint records (ledger_checkpoints): the
// checkpoint as the writer recorded it when it won the number, or Err when the record is not in
// the form the writer writes (altered).
type CheckpointRecord struct {
	Number     uint64
	Checkpoint *Checkpoint
	Err        error
}

// CheckpointRecordReader is optionally implemented by an EntryReader whose database also holds the
// checkpoint records (MongoStore): the verifier cross-checks them against the bucket, so a
// checkpoint object removed from the bucket (after its retention, without Object Lock, or in a
// lagging replica) cannot hide a rewritten tail.
type CheckpointRecordReader interface {
	// ScanCheckpointRecords streams the records numbered from on, in number order.
	ScanCheckpointRecords(ctx context.Context, from uint64, fn func(CheckpointRecord) error) error
}

// unanchoredWindow is how long after its event time an entry may stay unanchored: MaxAge plus the
// checkpoint schedule. Entries inside the window are "not yet anchored", not a finding: the
// checkpoints are what makes a deletion or rewrite detectable, so until one anchors them they
// could be removed or rewritten without trace (package doc, "What verification proves").
func (v *Verifier) unanchoredWindow() time.Duration {
	maxAge, every := v.MaxAge, v.CheckpointSchedule
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if every <= 0 {
		every = DefaultCheckpointSchedule
	}
	return maxAge + every
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// VerifyOptions narrow a verification.
type VerifyOptions struct {
	// SinceSeq, when set, starts entry verification at the last valid checkpoint covering fewer
	// than SinceSeq+1 entries (checkpoints are always all verified).
	SinceSeq *uint64
	// SinceTime, when not zero, starts at the last valid checkpoint cut at or before it.
	SinceTime time.Time
	// Tenant, when set, also counts that tenant's entries. The chain is global, so every entry from
	// the start point is still verified: a tenant's entries are only as sound as the chain under them.
	Tenant string
	// Incremental starts from the newest verification record (Verifier.Verifications) whose
	// signature verifies: the checkpoints after the one it proved are checked from it, and the
	// entries after that checkpoint; without a record it is a full pass.
	Incremental bool
	// Deadline, when set, stops the verification at the first checkpoint boundary reached after
	// it: the report is Partial and proves the checkpoints up to there (a scheduled verification
	// that must end within its time limit continues from its record next time).
	Deadline time.Time
}

// IncrementalStart says where an incremental verification started: the verification record of
// checkpoint Checkpoint (tree size TreeSize), written at Time by the key KeyID.
type IncrementalStart struct {
	Checkpoint uint64    `json:"checkpoint"`
	TreeSize   uint64    `json:"treeSize"`
	Time       time.Time `json:"time"`
	KeyID      string    `json:"keyId"`
}

// RetiredStart says where a verification started because the segments before were retired: the
// seal of segment Segment, whose final checkpoint Checkpoint (tree size TreeSize) is the base, and
// when that segment's retention ended.
type RetiredStart struct {
	Segment        int       `json:"segment"`
	Checkpoint     uint64    `json:"checkpoint"`
	TreeSize       uint64    `json:"treeSize"`
	RetentionEnded time.Time `json:"retentionEnded"`
}

// ProvenHead is the newest checkpoint a verification proved, with the consistency proof from the
// tree head it started from: what a verification record states (RecordVerification).
type ProvenHead struct {
	Checkpoint       uint64 `json:"checkpoint"`
	TreeSize         uint64 `json:"treeSize"`
	RootHash         Hash   `json:"rootHash"`
	CheckpointDigest Hash   `json:"checkpointDigest"`
	FromTreeSize     uint64 `json:"fromTreeSize"`
	FromRootHash     Hash   `json:"fromRootHash"`
	ConsistencyProof []Hash `json:"consistencyProof"`
}

// Problem is the first thing found wrong: the entry (Seq, EventID when known), and the checkpoint
// when a checkpoint is what failed.
type Problem struct {
	Seq        uint64  `json:"seq"`
	EventID    string  `json:"eventId,omitempty"`
	Checkpoint *uint64 `json:"checkpoint,omitempty"`
	Reason     string  `json:"reason"`
}

func (p *Problem) String() string {
	s := fmt.Sprintf("entry %d", p.Seq)
	if p.EventID != "" {
		s += fmt.Sprintf(" (event %s)", p.EventID)
	}
	return s + ": " + p.Reason
}

// Report is the outcome of Verify. OK is true only when nothing is wrong.
type Report struct {
	OK                    bool   `json:"ok"`
	FromSeq               uint64 `json:"fromSeq"`
	EntriesVerified       uint64 `json:"entriesVerified"`
	Tenant                string `json:"tenant,omitempty"`
	TenantEntriesVerified uint64 `json:"tenantEntriesVerified,omitempty"`
	CheckpointsVerified   int    `json:"checkpointsVerified"`
	AnchoredTreeSize      uint64 `json:"anchoredTreeSize"`
	UnanchoredEntries     uint64 `json:"unanchoredEntries"`
	// OldestUnanchored is the event time of the first entry no checkpoint anchors (when any).
	OldestUnanchored *time.Time `json:"oldestUnanchored,omitempty"`
	// UnanchoredWindow is how long an entry may stay unanchored before that is a finding.
	UnanchoredWindow string `json:"unanchoredWindow,omitempty"`
	// CheckpointRecordsChecked is the number of the database's checkpoint records compared with
	// the bucket; PendingCheckpoints those recorded within the window and not yet in the bucket (a
	// writer between recording and publishing them).
	CheckpointRecordsChecked uint64 `json:"checkpointRecordsChecked"`
	PendingCheckpoints       uint64 `json:"pendingCheckpoints,omitempty"`
	// IncrementalFrom is set when the verification started from a verification record.
	IncrementalFrom *IncrementalStart `json:"incrementalFrom,omitempty"`
	// Partial says the Deadline stopped it at a checkpoint boundary: Proven is where it got to.
	Partial bool `json:"partial,omitempty"`
	// Retired is set when verification started after retired segments (their retention ended).
	Retired *RetiredStart `json:"retired,omitempty"`
	// Proven is the newest checkpoint proven, set when nothing is wrong.
	Proven   *ProvenHead `json:"proven,omitempty"`
	FirstBad *Problem    `json:"firstBad,omitempty"`
}

var errStop = errors.New("stop")

// Verify checks every checkpoint (signature, chain link, Merkle root and compact range over its leaf
// hashes, Object Lock mode and retention) and every entry from the start point (sequence, content
// hash, chain link, and the hash anchored for it in its checkpoint), and names the first bad entry.
// An error is returned only when verification could not run (database or bucket unreachable).
func (v *Verifier) Verify(ctx context.Context, opt VerifyOptions) (*Report, error) {
	st, err := v.verify(ctx, opt, false)
	if err != nil {
		return nil, err
	}
	return st.rep, nil
}

// verifyState is what a verification found, for Recover: the report, the checkpoints that verified
// (in order), the first bad checkpoint's problem, and where the verified chain of entries ends.
type verifyState struct {
	rep *Report
	// good are the checkpoints that verified, from checkpoint 0 on.
	good []*Checkpoint
	// cpProblem is the first checkpoint that did not verify (nil when all did).
	cpProblem *Problem
	// entryProblem is the first bad entry (nil when none).
	entryProblem *Problem
	// filled (recovering only) are the sequence numbers of the entries the database lacks, taken
	// from the checkpoints and verified in place, ascending; unfillable is a checkpoint that anchors
	// a missing entry but carries no entries (written before they were carried).
	filled     []uint64
	unfillable *Checkpoint
	// next is the first entry not verified (the chain's length, with filled, when nothing is bad).
	next uint64
}

// verify runs a verification. recovering makes it take entries the database lacks (a gap or the
// tail) from the checkpoints that carry them, checking them like stored ones; Verify never does.
func (v *Verifier) verify(ctx context.Context, opt VerifyOptions, recovering bool) (*verifyState, error) {
	rep := &Report{Tenant: opt.Tenant}
	var err error
	var base *Checkpoint // the checkpoint an incremental verification starts from
	var stored []StoredCheckpoint
	var recordProblem *Problem
	retired, sealProblem, err := v.retiredSeal(ctx)
	if err != nil {
		return nil, err
	}
	if opt.Incremental && !recovering {
		if base, stored, recordProblem, err = v.incrementalStart(ctx, rep); err != nil {
			return nil, err
		}
		inRetired := func(n uint64) bool { return retired != nil && n <= retired.Final.Number }
		if base != nil && inRetired(base.Number) || recordProblem != nil && recordProblem.Checkpoint != nil && inRetired(*recordProblem.Checkpoint) {
			// The newest record proved checkpoints that are retired now: start from the seal.
			base, stored, recordProblem, rep.IncrementalFrom = nil, nil, nil, nil
		}
	}
	fromSeal := false
	if base == nil {
		if stored, err = v.Checkpoints.ListCheckpoints(ctx); err != nil {
			return nil, fmt.Errorf("listing checkpoints: %w", err)
		}
		if retired != nil {
			// Start from the newest retired segment's final checkpoint: what is stored of the retired
			// segments (until Retire and the bucket's lifecycle remove it) is not read.
			final := retired.Final
			base, fromSeal = &final, true
			kept := stored[:0]
			for _, sc := range stored {
				if n, ok := retiredNumber(sc.Key); !ok || n > final.Number {
					kept = append(kept, sc)
				}
			}
			stored = kept
			rep.Retired = &RetiredStart{Segment: retired.Segment, Checkpoint: final.Number, TreeSize: final.TreeSize, RetentionEnded: retired.RetiredAt(v.retentionYears())}
		}
	}
	if recordProblem == nil {
		recordProblem = sealProblem
	}
	var good []*Checkpoint
	if base != nil {
		good = append(good, base)
	}
	var cpProblem *Problem
	for _, sc := range stored {
		var prev *Checkpoint
		num := uint64(0)
		if len(good) > 0 {
			prev = good[len(good)-1]
			num = prev.Number + 1
		}
		if reason := v.checkStored(ctx, sc, prev); reason != "" {
			first := uint64(0)
			if prev != nil {
				first = prev.TreeSize
			}
			where := sc.Key
			if sc.Source != "" {
				where += " in " + sc.Source
			}
			cpProblem = &Problem{Seq: first, Checkpoint: &num, Reason: fmt.Sprintf("checkpoint %d (%s) %s; entries from %d on are not anchored", num, where, reason, first)}
			break
		}
		good = append(good, sc.Checkpoint)
	}
	rep.CheckpointsVerified = len(good)

	// Start point.
	var prevHash Hash
	ci := 0 // index in good of the checkpoint covering the next entry
	if base != nil {
		rep.FromSeq, prevHash, ci = base.TreeSize, base.LeafHashes[len(base.LeafHashes)-1], 1
	}
	for i, c := range good {
		if (opt.SinceSeq != nil && c.TreeSize <= *opt.SinceSeq) || (!opt.SinceTime.IsZero() && !c.Time.After(opt.SinceTime)) {
			rep.FromSeq, prevHash, ci = c.TreeSize, c.LeafHashes[len(c.LeafHashes)-1], i+1
		}
	}

	n := rep.FromSeq
	var problem *Problem
	bad := func(e Entry, format string, args ...any) error {
		problem = &Problem{Seq: n, EventID: e.EventID, Reason: fmt.Sprintf(format, args...)}
		return errStop
	}
	// check verifies entry e as entry n, the next of the chain.
	check := func(e Entry) error {
		switch {
		case e.malformed != "" && e.Seq == unknownSeq:
			problem = &Problem{Seq: n, EventID: e.EventID, Reason: e.malformed + " (a document altered or inserted where this entry belongs)"}
			return errStop
		case e.Seq > n:
			problem = &Problem{Seq: n, Reason: fmt.Sprintf("entry is missing: the next stored entry is %d "+
				"(entries deleted or renumbered, or appended after a database restore by a writer that cached the old head: run `caro audit recover`)", e.Seq)}
			return errStop
		case e.Seq < n:
			return bad(e, "sequence number %d appears again after entry %d (entry inserted or reordered)", e.Seq, n-1)
		case e.malformed != "":
			return bad(e, "%s (entry altered)", e.malformed)
		case e.contentHash() != e.Hash:
			return bad(e, "contents do not match the entry hash (entry altered)")
		case e.EventID != e.Event.ID:
			return bad(e, "eventId %q differs from the event's id %q (entry altered)", e.EventID, e.Event.ID)
		}
		for ci < len(good) && n >= good[ci].TreeSize {
			ci++
		}
		if ci < len(good) {
			c := good[ci]
			if c.LeafHashes[n-c.FirstSeq] != e.Hash {
				return bad(e, "hash differs from the one anchored in checkpoint %d (entry altered, inserted, removed or reordered and the chain rehashed)", c.Number)
			}
		}
		if e.PrevHash != prevHash {
			if n == 0 {
				return bad(e, "prevHash of the first entry is not zero (entry inserted before it)")
			}
			return bad(e, "prevHash does not match the hash of entry %d (an entry was altered, removed, inserted or reordered here)", n-1)
		}
		if len(good) > 0 && n == good[len(good)-1].TreeSize || len(good) == 0 && n == 0 {
			t := e.Event.Time
			rep.OldestUnanchored = &t
		}
		prevHash = e.Hash
		n++
		rep.EntriesVerified++
		if opt.Tenant != "" && e.Event.TenantID == opt.Tenant {
			rep.TenantEntriesVerified++
		}
		return nil
	}
	// fill (recovery only) takes the entries n..to-1 the database lacks from the checkpoints that
	// carry them and checks each exactly as a stored one, so Recover knows before writing anything
	// that the ledger verifies with them in place. It keeps only their sequence numbers.
	var filled []uint64
	var unfillable *Checkpoint
	var fillErr error
	src := &entrySource{r: v.Checkpoints}
	fill := func(to uint64) error {
		for n < to {
			i := sort.Search(len(good), func(i int) bool { return good[i].TreeSize > n })
			if i == len(good) {
				return nil // not anchored: nothing to take it from
			}
			c := good[i]
			e, ok, err := src.entry(ctx, c, n)
			if err != nil {
				fillErr = fmt.Errorf("reading the entries of checkpoint %d: %w", c.Number, err)
				return fillErr
			}
			if !ok {
				unfillable = c
				return nil
			}
			if err := check(e); err != nil {
				return err
			}
			filled = append(filled, e.Seq)
		}
		return nil
	}
	// An incremental verification first reads the last entry the record proved: it must still be
	// there as anchored, or the database lost (or had rewritten) what was verified before.
	scanFrom, boundary := rep.FromSeq, false
	if base != nil && rep.FromSeq == base.TreeSize && !fromSeal {
		scanFrom, boundary = base.TreeSize-1, true
	}
	checkBoundary := func(e Entry) error {
		boundary = false
		last := base.LeafHashes[len(base.LeafHashes)-1]
		switch {
		case e.Seq != scanFrom:
			problem = &Problem{Seq: scanFrom, Reason: fmt.Sprintf("entry is missing, though the verification record of checkpoint %d proved it "+
				"(entries deleted, or the database was restored from a backup: run `caro audit recover`)", base.Number)}
		case e.malformed != "":
			problem = &Problem{Seq: scanFrom, EventID: e.EventID, Reason: e.malformed + " (entry altered)"}
		case e.contentHash() != e.Hash || e.Hash != last:
			problem = &Problem{Seq: scanFrom, EventID: e.EventID, Reason: fmt.Sprintf("contents or hash differ from those checkpoint %d anchored (entry altered)", base.Number)}
		default:
			return nil
		}
		return errStop
	}
	visit := func(e Entry) error {
		if boundary {
			return checkBoundary(e)
		}
		if cpProblem != nil && n >= cpProblem.Seq {
			return errStop
		}
		if !opt.Deadline.IsZero() && !recovering && n > rep.FromSeq {
			// Past the deadline, stop where a checkpoint ends: what came before is proven.
			j := sort.Search(len(good), func(i int) bool { return good[i].TreeSize > n })
			if j < len(good) && good[j].FirstSeq == n && v.now().After(opt.Deadline) {
				good, rep.Partial = good[:j], true
				return errStop
			}
		}
		if recovering && e.Seq > n {
			if err := fill(e.Seq); err != nil {
				return err
			}
		}
		return check(e)
	}
	// A full pass reads the whole collection once, in the order it was written, counting every
	// document (AllEntriesScanner); otherwise entries from the start point in sequence order.
	var docs *uint64
	if all, ok := v.Entries.(AllEntriesScanner); ok && rep.FromSeq == 0 {
		var d uint64
		d, err = all.ScanAllEntries(ctx, visit)
		docs = &d
	} else {
		err = v.Entries.ScanEntries(ctx, scanFrom, visit)
	}
	if boundary && err == nil {
		err = checkBoundary(Entry{Seq: unknownSeq})
	}
	if fillErr != nil {
		return nil, fillErr
	}
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("reading entries: %w", err)
	}
	if recovering && problem == nil && len(good) > 0 {
		if err := fill(good[len(good)-1].TreeSize); err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
	}
	if problem == nil && cpProblem == nil && len(good) > 0 && good[len(good)-1].TreeSize > n {
		last := good[len(good)-1]
		problem = &Problem{Seq: n, Reason: fmt.Sprintf("entry is missing: checkpoint %d anchors entries up to %d but the ledger ends before this one "+
			"(entries deleted, or the database was restored from a backup: run `caro audit recover`)", last.Number, last.TreeSize-1)}
	}
	if counter, ok := v.Entries.(EntryCounter); ok && problem == nil && cpProblem == nil && rep.FromSeq == 0 && !rep.Partial {
		var total uint64
		if docs != nil {
			total = *docs
		} else if total, err = counter.CountEntries(ctx); err != nil {
			return nil, fmt.Errorf("counting entries: %w", err)
		}
		if stored := n - uint64(len(filled)); total != stored {
			problem = &Problem{Seq: n, Reason: fmt.Sprintf("the entries collection holds %d documents but the chain has %d: %d were inserted outside the ledger's sequence", total, stored, total-stored)}
		}
	}
	entryProblem := problem
	if problem == nil {
		problem = cpProblem
	}
	if len(good) > 0 {
		rep.AnchoredTreeSize = good[len(good)-1].TreeSize
	}
	if n > rep.AnchoredTreeSize {
		rep.UnanchoredEntries = n - max(rep.AnchoredTreeSize, rep.FromSeq)
	} else {
		rep.OldestUnanchored = nil
	}
	window := v.unanchoredWindow()
	rep.UnanchoredWindow = window.String()
	if !recovering {
		if problem == nil {
			problem = recordProblem // an incremental start whose record did not verify
		}
		records, recordsFrom := good, uint64(0)
		if len(good) > 0 {
			recordsFrom = good[0].Number
		}
		if fromSeal {
			// The retired segments' records are not compared (Retire deletes them).
			records, recordsFrom = good[1:], base.Number+1
		}
		recProblem, err := v.checkRecords(ctx, rep, records, recordsFrom, cpProblem != nil || rep.Partial, window)
		if err != nil {
			return nil, err
		}
		if problem == nil {
			problem = recProblem
		}
		// A recorded checkpoint on its way to the bucket (pending) anchors the oldest entries soon:
		// judged by the next verification.
		if problem == nil && !rep.Partial && rep.PendingCheckpoints == 0 && rep.OldestUnanchored != nil && v.now().Sub(*rep.OldestUnanchored) > window {
			problem = &Problem{Seq: rep.AnchoredTreeSize, Reason: fmt.Sprintf("entries %d..%d are anchored by no checkpoint although the first has event time %s, longer ago than %s "+
				"(the checkpointer's MaxAge plus its schedule): the checkpointer is not running, or the checkpoints anchoring them were removed; "+
				"until a checkpoint anchors them they could be deleted or rewritten undetectably",
				rep.AnchoredTreeSize, n-1, rep.OldestUnanchored.UTC().Format(time.RFC3339), window)}
		}
	}
	rep.FirstBad = problem
	rep.OK = problem == nil
	if rep.OK && !recovering && len(good) > 0 {
		proven, err := provenHead(base, good)
		if err != nil {
			return nil, err
		}
		rep.Proven = proven
	}
	return &verifyState{rep: rep, good: good, cpProblem: cpProblem, entryProblem: entryProblem, filled: filled, unfillable: unfillable, next: n}, nil
}

func (v *Verifier) retentionYears() int {
	if v.RetentionYears > 0 {
		return v.RetentionYears
	}
	return DefaultRetentionYears
}

// retiredSeal returns the seal of the newest segment whose retention has ended (nil when none), or
// the problem when that seal does not verify (the verification then starts from entry 0, where the
// retired entries are missing, and fails there too).
func (v *Verifier) retiredSeal(ctx context.Context) (*Seal, *Problem, error) {
	ss := v.Seals
	if ss == nil {
		ss, _ = v.Checkpoints.(SealStore)
	}
	if ss == nil {
		return nil, nil, nil
	}
	seals, err := ss.ListSeals(ctx)
	if errors.Is(err, ErrCheckpointConflict) {
		return nil, &Problem{Reason: err.Error()}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the seals: %w", err)
	}
	now := v.now()
	var best *Seal
	for _, s := range seals {
		if !now.Before(s.RetiredAt(v.retentionYears())) {
			best = s
		}
	}
	if best == nil {
		return nil, nil, nil
	}
	n := best.Final.Number
	bad := func(err error) (*Seal, *Problem, error) {
		return nil, &Problem{Seq: best.Final.TreeSize, Checkpoint: &n, Reason: fmt.Sprintf("the seal of segment %d (retention ended %s) does not verify, so the retired segments cannot be skipped: %v",
			best.Segment, best.RetiredAt(v.retentionYears()).Format(time.RFC3339), err)}, nil
	}
	sealKey, err := checkpointKey(v.PublicKeys, v.PublicKey, &Checkpoint{KeyID: best.KeyID})
	if err != nil {
		return bad(err)
	}
	finalKey, err := checkpointKey(v.PublicKeys, v.PublicKey, &best.Final)
	if err != nil {
		return bad(err)
	}
	if err := best.Check(sealKey, finalKey); err != nil {
		return bad(err)
	}
	return best, nil, nil
}

// checkStored returns why a stored checkpoint is bad, or "".
func (v *Verifier) checkStored(ctx context.Context, sc StoredCheckpoint, prev *Checkpoint) string {
	if errors.Is(sc.Err, ErrCheckpointConflict) {
		return sc.Err.Error()
	}
	if sc.Err != nil {
		return "is unreadable: " + sc.Err.Error()
	}
	c := sc.Checkpoint
	if want := c.ObjectKey(); sc.Key != want {
		return fmt.Sprintf("is stored under the wrong key (want %s)", want)
	}
	pub, err := checkpointKey(v.PublicKeys, v.PublicKey, c)
	if err != nil {
		return err.Error()
	}
	if err := c.Check(prev, pub); err != nil {
		return err.Error()
	}
	return v.checkLock(ctx, sc.Key, c)
}

// checkRecords compares the database's checkpoint records numbered from first (good[0]'s number:
// an incremental verification's start, or the one after a retired segment's final) with the
// checkpoints that verified in the bucket: a record must be the same signed checkpoint as the bucket's of its number, and a
// record the bucket lacks is a finding once it is older than window (the bucket's newest
// checkpoints were removed: the entries they anchored could be rewritten; younger, a writer is
// between recording and publishing it, counted in PendingCheckpoints). A store without records
// (the in-memory tests', an EntryReader that is not the database) skips the check.
func (v *Verifier) checkRecords(ctx context.Context, rep *Report, good []*Checkpoint, first uint64, bucketBad bool, window time.Duration) (*Problem, error) {
	rr, ok := v.Entries.(CheckpointRecordReader)
	if !ok {
		return nil, nil
	}
	var problem *Problem
	now := v.now()
	err := rr.ScanCheckpointRecords(ctx, first, func(r CheckpointRecord) error {
		rep.CheckpointRecordsChecked++
		n := r.Number
		at := rep.AnchoredTreeSize
		idx := n - first
		if n >= first && idx < uint64(len(good)) {
			at = good[idx].FirstSeq
		}
		bad := func(format string, args ...any) error {
			num := n
			problem = &Problem{Seq: at, Checkpoint: &num, Reason: fmt.Sprintf(format, args...)}
			return errStop
		}
		switch {
		case r.Err != nil:
			return bad("the database's record of checkpoint %d is not in the form the writer writes (altered): %v", n, r.Err)
		case idx < uint64(len(good)):
			if !sameSigned(r.Checkpoint, good[idx]) {
				return bad("the database's record of checkpoint %d differs from the signed checkpoint %d in the bucket "+
					"(a checkpoint cut from a restored database before its recovery, or the record was altered)", n, n)
			}
			return nil
		case bucketBad:
			return errStop // the bucket's own problem is reported already, or a partial pass ended here
		case now.Sub(r.Checkpoint.Time) <= window:
			rep.PendingCheckpoints++
			return nil
		default:
			return bad("checkpoint %d is recorded in the database (cut %s, anchoring entries up to %d) but the bucket has no such checkpoint: "+
				"the bucket's newest checkpoints were removed (no Object Lock, past retention) or a replica lags, so entries from %d on are not anchored "+
				"and could have been rewritten; read the bucket the writer publishes to, and escalate if it lacks the checkpoint",
				n, r.Checkpoint.Time.UTC().Format(time.RFC3339), r.Checkpoint.TreeSize-1, at)
		}
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("reading the checkpoint records: %w", err)
	}
	return problem, nil
}

// incrementalStart finds the newest verification record whose signature verifies and the
// checkpoints from the one it proved on: base is that checkpoint (checked: the record's digest,
// its signature, its Object Lock), stored the ones after it. With no record base is nil (a full
// pass). A record or base that does not verify is returned as problem, and base is nil.
func (v *Verifier) incrementalStart(ctx context.Context, rep *Report) (base *Checkpoint, stored []StoredCheckpoint, problem *Problem, err error) {
	vs := v.Verifications
	if vs == nil {
		vs, _ = v.Checkpoints.(VerificationStore)
	}
	if vs == nil {
		return nil, nil, nil, nil
	}
	rec, err := vs.LatestVerification(ctx)
	if err != nil {
		// An unreadable record is tampering with the bucket, as an unreadable checkpoint is.
		return nil, nil, &Problem{Reason: fmt.Sprintf("the newest verification record is unreadable: %v", err)}, nil
	}
	if rec == nil {
		return nil, nil, nil, nil
	}
	n := rec.Checkpoint
	bad := func(format string, args ...any) (*Checkpoint, []StoredCheckpoint, *Problem, error) {
		return nil, nil, &Problem{Seq: rec.TreeSize, Checkpoint: &n, Reason: fmt.Sprintf("verification record of checkpoint %d: ", n) + fmt.Sprintf(format, args...)}, nil
	}
	pub, kerr := checkpointKey(v.PublicKeys, v.PublicKey, &Checkpoint{KeyID: rec.KeyID})
	if kerr != nil {
		return bad("%v", kerr)
	}
	if err := rec.Check(pub); err != nil {
		return bad("%v", err)
	}
	var list []StoredCheckpoint
	if rr, ok := v.Checkpoints.(CheckpointRangeReader); ok {
		list, err = rr.ListCheckpointsFrom(ctx, n)
	} else {
		list, err = v.Checkpoints.ListCheckpoints(ctx)
		i := sort.Search(len(list), func(i int) bool { return list[i].Key >= CheckpointKey(n) })
		list = list[i:]
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	if len(list) == 0 || list[0].Key != CheckpointKey(n) {
		return bad("the bucket has no checkpoint %d", n)
	}
	sc := list[0]
	if sc.Err != nil {
		return bad("checkpoint %d is unreadable: %v", n, sc.Err)
	}
	c := sc.Checkpoint
	if c.Number != n || c.Digest() != rec.CheckpointDigest || c.TreeSize != rec.TreeSize || c.RootHash != rec.RootHash {
		return bad("the bucket's checkpoint %d is not the one the record proved", n)
	}
	if reason := v.checkAlone(ctx, sc); reason != "" {
		return bad("checkpoint %d %s", n, reason)
	}
	rep.IncrementalFrom = &IncrementalStart{Checkpoint: n, TreeSize: c.TreeSize, Time: rec.Time, KeyID: rec.KeyID}
	return c, list[1:], nil, nil
}

// checkAlone checks what checkStored does of a checkpoint without its predecessor (the start of an
// incremental verification, whose chain up to it the record states): signature, note, Merkle root
// of its compact range, Object Lock.
func (v *Verifier) checkAlone(ctx context.Context, sc StoredCheckpoint) string {
	c := sc.Checkpoint
	pub, err := checkpointKey(v.PublicKeys, v.PublicKey, c)
	if err != nil {
		return err.Error()
	}
	if err := c.VerifySignature(pub); err != nil {
		return err.Error()
	}
	if len(c.LeafHashes) == 0 {
		return "has no leaf hashes"
	}
	r, err := rangeFactory.NewRange(0, c.TreeSize, toBytes(c.CompactRange))
	if err != nil {
		return "has a malformed compact range: " + err.Error()
	}
	if root, err := r.GetRootHash(nil); err != nil || !bytes.Equal(root, c.RootHash[:]) {
		return "root hash does not match its compact range"
	}
	return v.checkLock(ctx, sc.Key, c)
}

// provenHead is the newest of good with the consistency proof from base (nil: from the empty tree).
func provenHead(base *Checkpoint, good []*Checkpoint) (*ProvenHead, error) {
	last := good[len(good)-1]
	p := &ProvenHead{Checkpoint: last.Number, TreeSize: last.TreeSize, RootHash: last.RootHash, CheckpointDigest: last.Digest()}
	if base == nil {
		copy(p.FromRootHash[:], rfc6962.DefaultHasher.EmptyRoot())
		return p, nil
	}
	p.FromTreeSize, p.FromRootHash = base.TreeSize, base.RootHash
	b, err := newConsistencyBuilder(base, last.TreeSize)
	if err != nil {
		return nil, err
	}
	for _, c := range good[1:] {
		for _, l := range c.LeafHashes {
			if err := b.Add(l); err != nil {
				return nil, err
			}
		}
	}
	if p.ConsistencyProof, err = b.Proof(); err != nil {
		return nil, err
	}
	if err := VerifyConsistency(p.FromTreeSize, p.TreeSize, p.ConsistencyProof, p.FromRootHash, p.RootHash); err != nil {
		return nil, fmt.Errorf("the consistency proof from tree size %d to %d does not hold: %w", p.FromTreeSize, p.TreeSize, err)
	}
	return p, nil
}

// RecordVerification signs and publishes the verification record of rep's proven head (rep must
// be OK), so the next incremental verification starts there. It returns nil, nil when rep proved
// no checkpoint, or none beyond the record it started from.
func RecordVerification(ctx context.Context, rep *Report, s Signer, pub VerificationPublisher, retentionYears int, now time.Time) (*VerificationRecord, error) {
	if rep == nil || !rep.OK {
		return nil, errors.New("only a verification that found nothing wrong is recorded")
	}
	if rep.Proven == nil || rep.IncrementalFrom != nil && rep.IncrementalFrom.Checkpoint == rep.Proven.Checkpoint {
		return nil, nil // no checkpoint yet, or none since the last record
	}
	if retentionYears <= 0 {
		retentionYears = DefaultRetentionYears
	}
	p := rep.Proven
	r := &VerificationRecord{Version: 1, Checkpoint: p.Checkpoint, TreeSize: p.TreeSize, RootHash: p.RootHash, CheckpointDigest: p.CheckpointDigest,
		FromTreeSize: p.FromTreeSize, FromRootHash: p.FromRootHash, ConsistencyProof: p.ConsistencyProof,
		EntriesVerified: rep.EntriesVerified, Full: rep.FromSeq == 0, Time: canonicalTime(now)}
	if err := r.Sign(ctx, s); err != nil {
		return nil, err
	}
	if err := pub.PublishVerification(ctx, r, RetainUntil(r.Time, retentionYears)); err != nil {
		return nil, err
	}
	return r, nil
}

// checkLock returns why the Object Lock of the object at key (holding c) is not what the ledger
// requires, or "".
func (v *Verifier) checkLock(ctx context.Context, key string, c *Checkpoint) string {
	r, err := v.Locks.Retention(ctx, key)
	if err != nil {
		return "has no readable Object Lock retention: " + err.Error()
	}
	if r.Mode != ObjectLockCompliance {
		return fmt.Sprintf("has Object Lock mode %q, want %s", r.Mode, ObjectLockCompliance)
	}
	if need := c.Time.UTC().AddDate(v.RetentionYears, 0, 0); r.RetainUntil.Before(need) {
		return fmt.Sprintf("is retained until %s, shorter than the required %d years (%s)", r.RetainUntil.Format(time.RFC3339), v.RetentionYears, need.Format(time.RFC3339))
	}
	return ""
}
