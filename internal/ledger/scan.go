package ledger

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// scanChunk is how many documents a scan hands to one worker at a time.
const scanChunk = 512

// AllEntriesScanner is optionally implemented by an EntryReader that reads every stored entry
// document in one pass (MongoStore): a full verification then needs no second pass to count the
// documents outside the sequence.
type AllEntriesScanner interface {
	// ScanAllEntries calls fn for the entries in sequence from 0, as ScanEntries(0) does, and
	// returns how many documents the collection holds, whatever their shape.
	ScanAllEntries(ctx context.Context, fn func(Entry) error) (docs uint64, err error)
}

// chunk is a run of raw documents decoded and hashed by a worker while the cursor reads on.
type chunk struct {
	raws    []bson.Raw
	entries []Entry
	done    chan struct{}
}

// streamEntries reads cur and calls fn for each entry document in cursor order. Decoding
// (decodeStoredEntry) and hashing (Recompute) run on every core, a chunk of documents at a time,
// while the cursor reads ahead; fn is called in order, from one goroutine. Memory holds a few
// chunks whatever the collection's size. skip, when set, drops documents before decoding.
func streamEntries(ctx context.Context, cur *mongo.Cursor, skip func(bson.Raw) bool, fn func(Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(runtime.GOMAXPROCS(0), 1)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	var readErr error
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.entries = make([]Entry, len(c.raws))
				for i, raw := range c.raws {
					e, err := decodeStoredEntry(raw)
					if err != nil {
						e.malformed = fmt.Sprintf("the stored document (_id %v) is not in the ledger's form: %v", raw.Lookup("_id"), err)
					} else {
						e.contents, e.hashed = e.Recompute(), true
					}
					c.entries[i] = e
				}
				c.raws = nil
				close(c.done)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(work)
		c := &chunk{done: make(chan struct{})}
		send := func() bool {
			select {
			case ordered <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			c = &chunk{done: make(chan struct{})}
			return true
		}
		for cur.Next(ctx) {
			if skip != nil && skip(cur.Current) {
				continue
			}
			c.raws = append(c.raws, append(bson.Raw(nil), cur.Current...))
			if len(c.raws) == scanChunk && !send() {
				return
			}
		}
		readErr = cur.Err()
		if len(c.raws) > 0 {
			send()
		}
	}()
	var fnErr error
	for c := range ordered {
		select {
		case <-c.done:
		case <-ctx.Done():
			continue // stopped: a chunk queued but never worked on
		}
		if fnErr != nil {
			continue
		}
		for _, e := range c.entries {
			if fnErr = fn(e); fnErr != nil {
				cancel()
				break
			}
		}
	}
	wg.Wait()
	if fnErr != nil {
		return fnErr
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return readErr
	}
	return ctx.Err()
}

// ScanEntries implements EntryReader: entries from seq from on in _id order. A document not in the
// form Append writes is passed on as an entry marked malformed (decodeStoredEntry), which the
// verifier reports as altered, naming it.
func (s *MongoStore) ScanEntries(ctx context.Context, from uint64, fn func(Entry) error) error {
	cur, err := s.entries.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: EntryDocID(from)}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	return streamEntries(ctx, cur, nil, fn)
}

// ScanAllEntries implements AllEntriesScanner. It reads the collection in its natural order,
// which is the order the entries were inserted in, so normally in sequence: no sort (on FerretDB a
// sort holds the whole result in the server's memory and is several times slower than a plain
// read) and one pass that also counts every document. Entries recovered into a gap after a
// restore come later in that order: at the first entry out of sequence it continues with
// ScanEntries from the expected entry and counts the documents separately.
func (s *MongoStore) ScanAllEntries(ctx context.Context, fn func(Entry) error) (uint64, error) {
	cur, err := s.entries.Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		return 0, err
	}
	defer cur.Close(ctx)
	var next, docs uint64
	errDisorder := errors.New("out of sequence")
	err = streamEntries(ctx, cur, nil, func(e Entry) error {
		if e.Seq != next && !(e.malformed != "" && e.Seq == unknownSeq) {
			return errDisorder
		}
		docs++
		if e.Seq == next {
			next++
		}
		return fn(e)
	})
	if !errors.Is(err, errDisorder) {
		return docs, err
	}
	if err := s.ScanEntries(ctx, next, fn); err != nil {
		return 0, err
	}
	n, err := s.CountEntries(ctx)
	return n, err
}
