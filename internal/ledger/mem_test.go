package ledger

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
)

// memStore is an in-memory EntryStore/CheckpointRecords with the same unique-key semantics as the
// MongoDB collections, for the pure tests. The FerretDB tests exercise the real store.
type memStore struct {
	mu      sync.Mutex
	entries map[uint64]Entry
	byEvent map[string]uint64
	cps     map[uint64]*Checkpoint
}

func newMemStore() *memStore {
	return &memStore{entries: map[uint64]Entry{}, byEvent: map[string]uint64{}, cps: map[uint64]*Checkpoint{}}
}

func (m *memStore) Head(context.Context) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best Entry
	ok := false
	for s, e := range m.entries {
		if !ok || s > best.Seq {
			best, ok = e, true
		}
	}
	return best, ok, nil
}

func (m *memStore) Insert(_ context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[e.Seq]; ok {
		return ErrDuplicate
	}
	if _, ok := m.byEvent[e.EventID]; ok {
		return ErrDuplicate
	}
	m.entries[e.Seq], m.byEvent[e.EventID] = e, e.Seq
	return nil
}

func (m *memStore) EntryByEventID(_ context.Context, id string) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byEvent[id]
	return m.entries[s], ok, nil
}

func (m *memStore) EntryAt(_ context.Context, seq uint64) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[seq]
	return e, ok, nil
}

func (m *memStore) ScanEntries(_ context.Context, from uint64, fn func(Entry) error) error {
	m.mu.Lock()
	var list []Entry
	for s, e := range m.entries {
		if s >= from {
			list = append(list, e)
		}
	}
	m.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].Seq < list[j].Seq })
	for _, e := range list {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) LastCheckpoint(context.Context) (*Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var last *Checkpoint
	for _, c := range m.cps {
		if last == nil || c.Number > last.Number {
			last = c
		}
	}
	return last, nil
}

func (m *memStore) InsertCheckpoint(_ context.Context, c *Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cps[c.Number]; ok {
		return ErrDuplicate
	}
	m.cps[c.Number] = c
	return nil
}

// memBucket is an in-memory checkpoint bucket that records the Object Lock of each put.
type memBucket struct {
	mu   sync.Mutex
	objs map[string]StoredCheckpoint
	ret  map[string]Retention
}

func newMemBucket() *memBucket {
	return &memBucket{objs: map[string]StoredCheckpoint{}, ret: map[string]Retention{}}
}

func (b *memBucket) Publish(_ context.Context, c *Checkpoint, until time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[c.ObjectKey()]; ok {
		return nil
	}
	cp := *c
	b.objs[c.ObjectKey()] = StoredCheckpoint{Key: c.ObjectKey(), Checkpoint: &cp}
	b.ret[c.ObjectKey()] = Retention{Mode: ObjectLockCompliance, RetainUntil: until}
	return nil
}

func (b *memBucket) ListCheckpoints(context.Context) ([]StoredCheckpoint, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []StoredCheckpoint
	for _, s := range b.objs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (b *memBucket) Retention(_ context.Context, key string) (Retention, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.ret[key]
	if !ok {
		return r, fmt.Errorf("no retention on %s", key)
	}
	return r, nil
}

func testSigner(t testing.TB) *KeySigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &KeySigner{Key: k, ID: "test-key"}
}

func hex64(i int) string { return fmt.Sprintf("%064x", i) }

func testEvent(i int, tenant string) audit.Event {
	return audit.Event{
		ID: audit.NewEventID(), Time: time.Date(2026, 11, 23, 6, 0, 0, 123456789, time.UTC).Add(time.Duration(i) * time.Second),
		Actor: "a1b2c3d4-0000-4000-8000-000000000001", TenantID: tenant, Action: "patient:write", ResourceType: "patient",
		ResourceID: fmt.Sprintf("p%06d", i), SubjectRef: hex64(i + 1), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("req-%d", i),
		AfterHash: hex64(i + 7),
	}
}

// fixture is a ledger over in-memory stores with n entries and checkpoints every interval.
type fixture struct {
	store  *memStore
	bucket *memBucket
	signer *KeySigner
	ledger *Ledger
	cpr    *Checkpointer
}

func newFixture(t testing.TB, n, interval int) *fixture {
	f := &fixture{store: newMemStore(), bucket: newMemBucket(), signer: testSigner(t)}
	f.ledger = &Ledger{Store: f.store}
	f.cpr = &Checkpointer{Entries: f.store, Records: f.store, Bucket: f.bucket, Signer: f.signer, Interval: uint64(interval), MaxAge: time.Hour,
		Now: func() time.Time { return time.Date(2026, 11, 23, 6, 30, 0, 0, time.UTC) }}
	f.append(t, n)
	return f
}

func (f *fixture) append(t testing.TB, n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		tenant := "tenant-a"
		if i%3 == 0 {
			tenant = "tenant-b"
		}
		if _, _, err := f.ledger.Append(ctx, testEvent(i, tenant)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) verifier() *Verifier {
	return &Verifier{Entries: f.store, Checkpoints: f.bucket, Locks: f.bucket, PublicKey: &f.signer.Key.PublicKey, RetentionYears: DefaultRetentionYears,
		MaxAge: f.cpr.MaxAge, Now: f.cpr.Now}
}
