package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrCheckpointConflict is wrapped by the error of a StoredCheckpoint whose number two sources hold
// with different signed contents.
var ErrCheckpointConflict = errors.New("checkpoint differs between buckets")

// CheckpointSource is one place checkpoints are read from: a bucket (the region's own, or the
// replica of the peer region's) with its Object Lock.
type CheckpointSource struct {
	// Name says where it is in messages, like s3://caro-ledger-replica-<account>-<region>.
	Name        string
	Checkpoints CheckpointReader
	Locks       RetentionInspector
}

// BucketSource is the CheckpointSource of a checkpoint bucket.
func BucketSource(b *CheckpointBucket) CheckpointSource {
	return CheckpointSource{Name: "s3://" + b.Name, Checkpoints: b, Locks: b}
}

// BucketsSource reads the buckets as one series: the bucket's own source for one, their
// MergedCheckpoints (named by all) for several.
func BucketsSource(buckets ...*CheckpointBucket) CheckpointSource {
	if len(buckets) == 1 {
		return BucketSource(buckets[0])
	}
	sources := make([]CheckpointSource, len(buckets))
	for i, b := range buckets {
		sources[i] = BucketSource(b)
	}
	m := NewMergedCheckpoints(sources...)
	return CheckpointSource{Name: m.Names(), Checkpoints: m, Locks: m}
}

// MergedCheckpoints reads the checkpoints of several sources as one series, for a ledger whose
// checkpoints are in more than one bucket: after a failover the standby region's writer continues
// the numbering in its own bucket, while the earlier checkpoints are in the replica of the old
// primary's bucket. It implements CheckpointReader, RetentionInspector and CheckpointEntryReader.
//
// The listing is ordered by key (number). A number held by several sources must have the same
// signed contents (encoding and signature) in each: otherwise its entry carries an error wrapping
// ErrCheckpointConflict, which the verifier reports as that checkpoint's problem; a copy that is
// unreadable or was written over in one source is reported the same way even if another source's
// copy is sound. Gaps in the numbering stay the verifier's "checkpoint is missing" problem.
// Retention checks every copy: Retention returns the weakest lock among the sources holding the
// key (a non-COMPLIANCE mode first, else the earliest retain-until date), so each object's lock is
// checked as with one bucket.
type MergedCheckpoints struct {
	Sources []CheckpointSource

	mu   sync.Mutex
	held map[string][]int // key -> indexes of the sources holding it, from the last listing
}

// NewMergedCheckpoints merges the sources (at least one).
func NewMergedCheckpoints(sources ...CheckpointSource) *MergedCheckpoints {
	return &MergedCheckpoints{Sources: sources}
}

// ListCheckpoints implements CheckpointReader.
func (m *MergedCheckpoints) ListCheckpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	return m.list(ctx, func(s CheckpointSource) ([]StoredCheckpoint, error) { return s.Checkpoints.ListCheckpoints(ctx) })
}

// list merges what lister lists of each source.
func (m *MergedCheckpoints) list(ctx context.Context, lister func(CheckpointSource) ([]StoredCheckpoint, error)) ([]StoredCheckpoint, error) {
	if len(m.Sources) == 0 {
		return nil, errors.New("no checkpoint bucket to read")
	}
	type copyOf struct {
		src int
		sc  StoredCheckpoint
	}
	byKey := map[string][]copyOf{}
	var keys []string
	for i, s := range m.Sources {
		list, err := lister(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		for _, sc := range list {
			if len(byKey[sc.Key]) == 0 {
				keys = append(keys, sc.Key)
			}
			byKey[sc.Key] = append(byKey[sc.Key], copyOf{i, sc})
		}
	}
	sort.Strings(keys)
	held := map[string][]int{}
	out := make([]StoredCheckpoint, 0, len(keys))
	for _, k := range keys {
		copies := byKey[k]
		names := make([]string, len(copies))
		for i, c := range copies {
			held[k] = append(held[k], c.src)
			names[i] = m.Sources[c.src].Name
		}
		first := copies[0]
		merged := StoredCheckpoint{Key: k, Checkpoint: first.sc.Checkpoint, Err: first.sc.Err, Source: strings.Join(names, ", ")}
		for _, c := range copies {
			if c.sc.Err != nil {
				merged.Checkpoint, merged.Err = nil, fmt.Errorf("in %s: %w", m.Sources[c.src].Name, c.sc.Err)
				break
			}
		}
		if merged.Err == nil {
			for _, c := range copies[1:] {
				if !sameSigned(first.sc.Checkpoint, c.sc.Checkpoint) {
					merged.Checkpoint, merged.Err = nil, fmt.Errorf("%w: %s and %s hold different checkpoints under this number "+
						"(two writers cut it, a split brain between the regions, or one copy was altered); keep both buckets as they are and escalate",
						ErrCheckpointConflict, m.Sources[first.src].Name, m.Sources[c.src].Name)
					break
				}
			}
		}
		out = append(out, merged)
	}
	m.mu.Lock()
	m.held = held
	m.mu.Unlock()
	return out, nil
}

// sameSigned reports whether a and b have the same signed encoding and signature.
func sameSigned(a, b *Checkpoint) bool {
	return a != nil && b != nil && bytes.Equal(a.Encode(), b.Encode()) && bytes.Equal(a.Signature, b.Signature)
}

// holders are the sources that held key at the last listing (all sources before any listing).
func (m *MergedCheckpoints) holders(key string) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if idx, ok := m.held[key]; ok {
		return idx
	}
	all := make([]int, len(m.Sources))
	for i := range all {
		all[i] = i
	}
	return all
}

// Retention implements RetentionInspector: the weakest lock among the copies of key (see the type).
func (m *MergedCheckpoints) Retention(ctx context.Context, key string) (Retention, error) {
	var weakest *Retention
	for _, i := range m.holders(key) {
		s := m.Sources[i]
		r, err := s.Locks.Retention(ctx, key)
		if err != nil {
			return Retention{}, fmt.Errorf("in %s: %w", s.Name, err)
		}
		switch {
		case weakest == nil:
			weakest = &r
		case weakest.Mode == ObjectLockCompliance && r.Mode != ObjectLockCompliance:
			weakest = &r
		case weakest.Mode == r.Mode && r.RetainUntil.Before(weakest.RetainUntil):
			weakest = &r
		}
	}
	if weakest == nil {
		return Retention{}, errors.New("object is in none of the buckets")
	}
	return *weakest, nil
}

// CheckpointEntries implements CheckpointEntryReader: the entries of checkpoint n from the first
// source holding it that carries them (the caller checks them against the signed leaf hashes).
func (m *MergedCheckpoints) CheckpointEntries(ctx context.Context, n uint64) ([]Entry, error) {
	var errs []error
	for _, i := range m.holders(CheckpointKey(n)) {
		s := m.Sources[i]
		er, ok := s.Checkpoints.(CheckpointEntryReader)
		if !ok {
			continue
		}
		es, err := er.CheckpointEntries(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
			continue
		}
		if len(es) > 0 {
			return es, nil
		}
	}
	return nil, errors.Join(errs...)
}

// Names are the sources' names, for messages.
func (m *MergedCheckpoints) Names() string {
	names := make([]string, len(m.Sources))
	for i, s := range m.Sources {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
