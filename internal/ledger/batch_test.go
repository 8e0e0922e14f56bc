package ledger

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/carohealth/platform/internal/audit"
)

func TestAppendBatchGivesEachEventItsOwnResult(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger holding one event
	l := &Ledger{Store: newMemStore()}
	old := testEvent(0, "t1")
	first, _, err := l.Append(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	// WHEN a batch mixes new events, an invalid one, a redelivery of the stored one, an event given
	// twice and an ID reused for other contents
	a, b := testEvent(1, "t1"), testEvent(2, "t1")
	invalid := testEvent(3, "t1")
	invalid.Actor = ""
	reused := old
	reused.Action = "patient:delete"
	res, err := l.AppendBatch(ctx, []audit.Event{a, invalid, old, b, a, reused})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the new events are entries 1 and 2, chained, and every other event says what it is
	if !res[0].Created || res[0].Entry.Seq != 1 || res[0].Entry.PrevHash != first.Hash || !res[3].Created || res[3].Entry.Seq != 2 ||
		res[3].Entry.PrevHash != res[0].Entry.Hash {
		t.Fatalf("new events: %+v %+v", res[0], res[3])
	}
	if res[1].Err == nil {
		t.Error("invalid event appended")
	}
	if res[2].Err != nil || res[2].Created || res[2].Entry.Hash != first.Hash {
		t.Errorf("redelivery: %+v", res[2])
	}
	if res[4].Err != nil || res[4].Created || res[4].Entry.Hash != res[0].Entry.Hash {
		t.Errorf("event given twice: %+v", res[4])
	}
	if res[5].Err == nil || !strings.Contains(res[5].Err.Error(), "different contents") {
		t.Errorf("reused ID: %+v", res[5])
	}
}

func TestConcurrentBatchesMakeOneChain(t *testing.T) {
	// GIVEN 8 goroutines sharing one Ledger (group commit) and 2 more on Ledgers of their own (other
	// processes), each appending batches, every event also redelivered by a neighbour
	m := newMemStore()
	concurrentBatches(t, m, func() *memStore { return m })
}

// concurrentBatches runs 8 writers on one Ledger and 2 on their own Ledgers over store (others
// gives a store for another process on the same database), 5 batches of 10 events each, every
// event also in a neighbour's batch, and checks one gap-free chain holds each event once.
func concurrentBatches[S EntryStore](t *testing.T, store S, others func() S) {
	t.Helper()
	ctx := context.Background()
	const writers, batches, size = 10, 5, 10
	events := make([][]audit.Event, writers)
	for w := range events {
		for i := 0; i < batches*size; i++ {
			events[w] = append(events[w], testEvent(w*1000+i, "t1"))
		}
	}
	shared := &Ledger{Store: store, MaxAttempts: 1000}
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches*size*2)
	for w := 0; w < writers; w++ {
		l := shared
		if w >= 8 {
			l = &Ledger{Store: others(), MaxAttempts: 1000}
		}
		wg.Add(1)
		go func(w int, l *Ledger) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				batch := append(append([]audit.Event(nil), events[w][b*size:(b+1)*size]...), events[(w+1)%writers][b*size:(b+1)*size]...)
				res, err := l.AppendBatch(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				for _, r := range res {
					if r.Err != nil {
						errs <- r.Err
					}
				}
			}
		}(w, l)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prev Hash
	var n uint64
	if err := store.ScanEntries(ctx, 0, func(e Entry) error {
		if e.Seq != n || e.PrevHash != prev || e.Recompute() != e.Hash || e.malformed != "" || seen[e.EventID] {
			t.Fatalf("chain broken at %d (entry seq %d, event seen before %v)", n, e.Seq, seen[e.EventID])
		}
		seen[e.EventID], prev, n = true, e.Hash, n+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != writers*batches*size {
		t.Fatalf("%d entries for %d events", n, writers*batches*size)
	}
}
