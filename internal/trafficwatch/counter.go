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

type keyState struct {
	events []Event
	window time.Duration
	last   time.Time
}

// NewMemoryCounter returns an empty in-memory counter with default bounds.
func NewMemoryCounter() *MemoryCounter {
	return &MemoryCounter{MaxKeys: 100_000, MaxEventsPerKey: 10_000, keys: map[string]*keyState{}, claims: map[string]time.Time{}}
}

// Observe implements Counter.
func (m *MemoryCounter) Observe(_ context.Context, key string, ev Event, window time.Duration) (Tally, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.keys[key]
	if st == nil {
		if len(m.keys) >= m.MaxKeys {
			m.sweep(ev.Time)
		}
		st = &keyState{}
		m.keys[key] = st
	}
	st.window = window
	dup := false
	if ev.ID != "" {
		for _, e := range st.events {
			if e.ID == ev.ID {
				dup = true
				break
			}
		}
	}
	if !dup {
		st.events = append(st.events, ev)
		if n := len(st.events); n > 1 && st.events[n-2].Time.After(ev.Time) {
			sort.SliceStable(st.events, func(i, j int) bool { return st.events[i].Time.Before(st.events[j].Time) })
		}
	}
	if ev.Time.After(st.last) {
		st.last = ev.Time
	}
	// Drop what no future window can include (older than the newest event minus the window).
	cut := st.last.Add(-window)
	i := 0
	for i < len(st.events) && !st.events[i].Time.After(cut) {
		i++
	}
	st.events = st.events[i:]
	if len(st.events) > m.MaxEventsPerKey {
		st.events = st.events[len(st.events)-m.MaxEventsPerKey:]
	}

	var t Tally
	from := ev.Time.Add(-window)
	for _, e := range st.events {
		if !e.Time.After(from) || e.Time.After(ev.Time) {
			continue
		}
		if t.Count == 0 {
			t.First = e.Time
		}
		t.Count++
		t.Last = e.Time
		if e.RequestID != "" {
			t.RequestIDs = append(t.RequestIDs, e.RequestID)
		}
	}
	if len(t.RequestIDs) > MaxRequestIDs {
		t.RequestIDs = t.RequestIDs[len(t.RequestIDs)-MaxRequestIDs:]
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
