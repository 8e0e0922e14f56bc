package trafficwatch

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MaxRequestIDs is how many request IDs an alert lists (the most recent).
const MaxRequestIDs = 10

// Event is one counted occurrence.
type Event struct {
	// ID makes counting idempotent: an event with an ID already in the window is not counted
	// again (a retried log batch or a redelivered message).
	ID        string
	Time      time.Time
	RequestID string
}

// Tally is the state of one key's window after an observation.
type Tally struct {
	Count       int
	First, Last time.Time
	// RequestIDs are the most recent request IDs in the window, oldest first, at most MaxRequestIDs.
	RequestIDs []string
}

// Counter counts events per key in sliding windows and remembers which keys alerted recently.
// MemoryCounter is the in-process implementation; a shared store (DynamoDB) can implement it to
// count across Lambda instances.
type Counter interface {
	// Observe records ev under key and returns the tally of the window (ev.Time-window, ev.Time].
	Observe(ctx context.Context, key string, ev Event, window time.Duration) (Tally, error)
	// Claim returns true, and records the claim, when no alert for key was claimed in the
	// cooldown before t; otherwise false.
	Claim(ctx context.Context, key string, t time.Time, cooldown time.Duration) (bool, error)
	// Release forgets the claim for key (the alert could not be published, so the next attempt
	// must be allowed to alert).
	Release(ctx context.Context, key string) error
}

// MemoryCounter is a Counter in the memory of one process (one warm Lambda instance). It bounds its
// memory: at most MaxKeys keys and MaxEventsPerKey events per key; beyond that the oldest go.
type MemoryCounter struct {
	MaxKeys         int
	MaxEventsPerKey int

	mu     sync.Mutex
	keys   map[string]*keyState
	claims map[string]time.Time
}

// NewMemoryCounter returns an empty in-memory counter with default bounds.
func NewMemoryCounter() *MemoryCounter {
	return &MemoryCounter{MaxKeys: 100_000, MaxEventsPerKey: 10_000, keys: map[string]*keyState{}, claims: map[string]time.Time{}}
}

type keyState struct {
	events []Event // sorted by time
	ids    map[string]struct{}
	window time.Duration
	last   time.Time
}

// Observe implements Counter. It costs O(log n) per event plus amortised pruning, so a flood of
// requests (the case the watcher exists for) does not slow it down quadratically.
func (m *MemoryCounter) Observe(_ context.Context, key string, ev Event, window time.Duration) (Tally, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.keys[key]
	if st == nil {
		if len(m.keys) >= m.MaxKeys {
			m.sweep(ev.Time)
		}
		st = &keyState{ids: map[string]struct{}{}}
		m.keys[key] = st
	}
	st.window = window
	_, dup := st.ids[ev.ID]
	if ev.ID == "" || !dup {
		if ev.ID != "" {
			st.ids[ev.ID] = struct{}{}
		}
		// Insert in time order; in-order arrival (the usual case) appends.
		i := sort.Search(len(st.events), func(i int) bool { return st.events[i].Time.After(ev.Time) })
		st.events = append(st.events, Event{})
		copy(st.events[i+1:], st.events[i:])
		st.events[i] = ev
	}
	if ev.Time.After(st.last) {
		st.last = ev.Time
	}
	// Drop what no future window can include (at or before the newest event minus the window),
	// and beyond MaxEventsPerKey the oldest.
	cut := st.last.Add(-window)
	drop := sort.Search(len(st.events), func(i int) bool { return st.events[i].Time.After(cut) })
	if over := len(st.events) - drop - m.MaxEventsPerKey; over > 0 {
		drop += over
	}
	if drop > 0 {
		for _, e := range st.events[:drop] {
			delete(st.ids, e.ID)
		}
		st.events = append(st.events[:0:0], st.events[drop:]...)
	}

	// The window (ev.Time-window, ev.Time].
	from := sort.Search(len(st.events), func(i int) bool { return st.events[i].Time.After(ev.Time.Add(-window)) })
	to := sort.Search(len(st.events), func(i int) bool { return st.events[i].Time.After(ev.Time) })
	var t Tally
	if to > from {
		t.Count = to - from
		t.First, t.Last = st.events[from].Time, st.events[to-1].Time
		for i := to - 1; i >= from && len(t.RequestIDs) < MaxRequestIDs; i-- {
			if id := st.events[i].RequestID; id != "" {
				t.RequestIDs = append(t.RequestIDs, id)
			}
		}
		for i, j := 0, len(t.RequestIDs)-1; i < j; i, j = i+1, j-1 {
			t.RequestIDs[i], t.RequestIDs[j] = t.RequestIDs[j], t.RequestIDs[i]
		}
	}
	return t, nil
}

// sweep removes keys with no event inside their window as of now, and if that is not enough the
// least recently seen keys.
func (m *MemoryCounter) sweep(now time.Time) {
	for k, st := range m.keys {
		if !st.last.After(now.Add(-st.window)) {
			delete(m.keys, k)
		}
	}
	if len(m.keys) < m.MaxKeys {
		return
	}
	type kl struct {
		k string
		t time.Time
	}
	all := make([]kl, 0, len(m.keys))
	for k, st := range m.keys {
		all = append(all, kl{k, st.last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	for _, e := range all[:len(all)-m.MaxKeys/2] {
		delete(m.keys, e.k)
	}
}

// Claim implements Counter.
func (m *MemoryCounter) Claim(_ context.Context, key string, t time.Time, cooldown time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.claims[key]; ok && t.Sub(last) < cooldown && !t.Before(last.Add(-cooldown)) {
		return false, nil
	}
	if len(m.claims) >= m.MaxKeys {
		for k, c := range m.claims {
			if t.Sub(c) >= time.Hour {
				delete(m.claims, k)
			}
		}
	}
	m.claims[key] = t
	return true, nil
}

// Release implements Counter.
func (m *MemoryCounter) Release(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, key)
	return nil
}
