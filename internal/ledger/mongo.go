package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
)

// Collection names.
const (
	EntriesCollection     = "ledger_entries"
	CheckpointsCollection = "ledger_checkpoints"
	// HeadCollection holds one document, {_id: "head", seq, hash}: the highest entry a writer
	// appended, a hint for writers in other processes (HeadRecorder). Never trusted: the unique
	// _id of the entries refuses an append after a stale hint, and a hint ahead of the entries (a
	// restore rolled them back) is checked before use. Not data: the backup's reserved prefix
	// keeps it out of backups and restores, like the hold.
	HeadCollection = "_caro_ledger_head"
)

// recentEntries is how many of the entries this store inserted it keeps for the checkpointer
// (CachedEntries): two checkpoints' worth at the default MaxLeaves.
const recentEntries = 2 * DefaultMaxLeaves

// EntryDocID is the _id of entry seq: the sequence number as 20 zero-padded decimal digits. Being
// the _id, it has MongoDB's mandatory unique index (the unique seq index); zero-padded, it sorts in
// sequence order; a string, it is looked up through the index by FerretDB too (which pushes down
// only string and ObjectID _id equality).
func EntryDocID(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// entryDoc is the stored form of an Entry.
type entryDoc struct {
	ID       string      `bson:"_id"`
	EventID  string      `bson:"eventId"`
	PrevHash string      `bson:"prevHash"`
	Hash     string      `bson:"hash"`
	Event    audit.Event `bson:"event"`
}

func toDoc(e Entry) entryDoc {
	return entryDoc{ID: EntryDocID(e.Seq), EventID: e.EventID, PrevHash: e.PrevHash.String(), Hash: e.Hash.String(), Event: e.Event}
}

// readEntry reads one entry document found by a point read: a malformed one is an error wrapping
// ErrMalformedEntry, naming the document (nothing is appended to, checkpointed or proved from an
// altered entry).
func readEntry(res *mongo.SingleResult) (Entry, bool, error) {
	raw, err := res.Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	e, err := decodeStoredEntry(raw)
	if err != nil {
		return Entry{}, false, fmt.Errorf("entry document %v: %w: %v; run `caro audit verify`", raw.Lookup("_id"), ErrMalformedEntry, err)
	}
	return e, true, nil
}

// checkpointDoc is the database record of a checkpoint (writer election only).
type checkpointDoc struct {
	Number string `bson:"_id"` // EntryDocID(number)
	JSON   string `bson:"json"`
}

// MongoStore keeps entries and checkpoint records in MongoDB (Atlas in production, FerretDB
// locally). It implements EntryStore and CheckpointRecords, with inserts and reads only.
type MongoStore struct {
	db          *mongo.Database
	entries     *mongo.Collection
	checkpoints *mongo.Collection

	mu        sync.Mutex
	head      Entry // the highest entry seen (a starting point for Head, never trusted blindly)
	headKnown bool
	// recent are the last entries this store inserted, by seq modulo recentEntries.
	recent [recentEntries]Entry
}

// NewMongoStore returns the store on db. Call EnsureIndexes once before use.
func NewMongoStore(db *mongo.Database) *MongoStore {
	return &MongoStore{db: db, entries: db.Collection(EntriesCollection), checkpoints: db.Collection(CheckpointsCollection)}
}

// EnsureIndexes creates the unique eventId index (one entry per event). Idempotent.
func (s *MongoStore) EnsureIndexes(ctx context.Context) error {
	_, err := s.entries.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "eventId", Value: 1}},
		Options: options.Index().SetName("ledger_entries_event_id").SetUnique(true),
	})
	if err != nil {
		return fmt.Errorf("creating the unique eventId index on %s: %w", EntriesCollection, err)
	}
	return nil
}

// Head implements EntryStore. The first call finds the highest _id with a sorted query; later calls
// start from the head seen last and probe _id+1, _id+2, ... with point lookups until one is missing.
// Entries are contiguous and never removed, so the first missing _id is one past the head; point
// lookups on _id stay fast on every backend (FerretDB does not use indexes for sorts).
func (s *MongoStore) Head(ctx context.Context) (Entry, bool, error) {
	s.mu.Lock()
	cached, known := s.head, s.headKnown
	s.mu.Unlock()
	if !known {
		e, ok, err := readEntry(s.entries.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})))
		if err != nil || !ok {
			return Entry{}, false, err
		}
		cached = e
	}
	for {
		next, ok, err := s.EntryAt(ctx, cached.Seq+1)
		if err != nil {
			return Entry{}, false, err
		}
		if !ok {
			break
		}
		cached = next
	}
	s.remember(cached)
	return cached, true, nil
}

// EntryAt implements EntryStore.
func (s *MongoStore) EntryAt(ctx context.Context, seq uint64) (Entry, bool, error) {
	return readEntry(s.entries.FindOne(ctx, bson.D{{Key: "_id", Value: EntryDocID(seq)}}))
}

// Insert implements EntryStore.
func (s *MongoStore) Insert(ctx context.Context, e Entry) error {
	_, err := s.entries.InsertOne(ctx, toDoc(e))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("entry %d / event %s: %w", e.Seq, e.EventID, ErrDuplicate)
	}
	if err == nil {
		s.rememberInserted([]Entry{e})
	}
	return err
}

// CachedHead implements HeadHinter: the highest entry this store has read or written.
func (s *MongoStore) CachedHead() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.headKnown
}

func (s *MongoStore) remember(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.headKnown || e.Seq > s.head.Seq {
		s.head, s.headKnown = e, true
	}
}

// rememberInserted keeps es as inserted by this store (CachedEntries) and raises the head.
func (s *MongoStore) rememberInserted(es []Entry) {
	if len(es) == 0 {
		return
	}
	s.mu.Lock()
	for _, e := range es {
		s.recent[e.Seq%recentEntries] = e
	}
	s.mu.Unlock()
	s.remember(es[len(es)-1])
}

// CachedEntries returns entries from..from+n-1 when this store inserted all of them recently:
// the checkpointer anchors what this process wrote without reading it back (on FerretDB every
// read of the entries is a scan of the collection). ok is false when any is not cached.
func (s *MongoStore) CachedEntries(from, n uint64) ([]Entry, bool) {
	if n == 0 || n > recentEntries {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, n)
	for seq := from; seq < from+n; seq++ {
		e := s.recent[seq%recentEntries]
		if e.Seq != seq || e.Hash == (Hash{}) {
			return nil, false
		}
		out = append(out, e)
	}
	return out, true
}

// InsertEntries implements BatchInserter with one ordered insertMany: MongoDB (and FerretDB)
// inserts the documents in order and stops at the first one a unique index refuses.
func (s *MongoStore) InsertEntries(ctx context.Context, es []Entry) (int, error) {
	docs := make([]any, len(es))
	for i, e := range es {
		docs[i] = toDoc(e)
	}
	_, err := s.entries.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	if err == nil {
		s.rememberInserted(es)
		return len(es), nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteConcernError != nil {
		// Unknown how many went in: report none; a retry is refused on the first inserted one
		// (its sequence number), which re-reads the head.
		return 0, err
	}
	we := bwe.WriteErrors[0]
	n := we.Index
	s.rememberInserted(es[:n])
	if !mongo.IsDuplicateKeyError(we) {
		return n, fmt.Errorf("inserting entry %d: %w", es[n].Seq, we)
	}
	dup := &DuplicateError{Seq: es[n].Seq, EventID: es[n].EventID, Err: we}
	switch {
	case strings.Contains(we.Message, "eventId") || strings.Contains(we.Message, "ledger_entries_event_id"):
		dup.OnEventID = true
	case strings.Contains(we.Message, "_id_") || strings.Contains(we.Message, "_id:") || strings.Contains(we.Message, "_id\""):
	default:
		// The message does not name the index: the entry at that sequence number tells.
		taken, ok, err := s.EntryAt(ctx, es[n].Seq)
		if err != nil {
			return n, err
		}
		dup.OnEventID = !ok || taken.EventID == es[n].EventID
	}
	return n, dup
}

// EntryByEventID implements EntryStore.
func (s *MongoStore) EntryByEventID(ctx context.Context, id string) (Entry, bool, error) {
	return readEntry(s.entries.FindOne(ctx, bson.D{{Key: "eventId", Value: id}}))
}

// CountEntries implements EntryCounter.
func (s *MongoStore) CountEntries(ctx context.Context) (uint64, error) {
	n, err := s.entries.CountDocuments(ctx, bson.D{})
	return uint64(n), err
}

// LastCheckpoint implements CheckpointRecords.
func (s *MongoStore) LastCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var d checkpointDoc
	err := s.checkpoints.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := ParseCheckpoint([]byte(d.JSON))
	if err != nil {
		return nil, fmt.Errorf("checkpoint record %s is unreadable: %w", d.Number, err)
	}
	return c, nil
}

// InsertCheckpoint implements CheckpointRecords. The record leaves out the entries a checkpoint
// carries: they are in the entries collection already.
func (s *MongoStore) InsertCheckpoint(ctx context.Context, c *Checkpoint) error {
	b, err := json.Marshal(c.withoutEntries())
	if err != nil {
		return err
	}
	_, err = s.checkpoints.InsertOne(ctx, checkpointDoc{Number: EntryDocID(c.Number), JSON: string(b)})
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("checkpoint %d: %w", c.Number, ErrDuplicate)
	}
	return err
}

// ScanCheckpointRecords implements CheckpointRecordReader. A record that is not exactly {_id: <20
// digits>, json: <checkpoint JSON>} with a checkpoint of its number is passed on with Err set.
func (s *MongoStore) ScanCheckpointRecords(ctx context.Context, from uint64, fn func(CheckpointRecord) error) error {
	cur, err := s.checkpoints.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: EntryDocID(from)}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(100))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	next := from
	for cur.Next(ctx) {
		r, numbered := decodeCheckpointRecord(cur.Current)
		if !numbered {
			r.Number = next
		} else if r.Err == nil && r.Number != next {
			r.Err = fmt.Errorf("record %d follows record %d: records are missing", r.Number, next-1)
			r.Number = next
		}
		next = r.Number + 1
		if err := fn(r); err != nil {
			return err
		}
	}
	return cur.Err()
}

// decodeCheckpointRecord reads a record strictly; numbered says whether its _id is a number.
func decodeCheckpointRecord(raw bson.Raw) (r CheckpointRecord, numbered bool) {
	elems, err := raw.Elements()
	if err != nil {
		r.Err = err
		return r, false
	}
	var id, body string
	for _, el := range elems {
		s, ok := el.Value().StringValueOK()
		switch {
		case el.Key() == "_id" && ok && id == "":
			id = s
		case el.Key() == "json" && ok && body == "":
			body = s
		default:
			r.Err = fmt.Errorf("field %q is not a checkpoint record field of type string", el.Key())
		}
	}
	n, perr := strconv.ParseUint(id, 10, 64)
	numbered = perr == nil && id == EntryDocID(n)
	r.Number = n
	switch {
	case r.Err != nil:
	case len(elems) != 2 || id == "" || body == "":
		r.Err = errors.New("want exactly the fields _id and json")
	case !numbered:
		r.Err = fmt.Errorf("_id %q is not a checkpoint number", id)
	default:
		if r.Checkpoint, r.Err = ParseCheckpoint([]byte(body)); r.Err == nil && r.Checkpoint.Number != r.Number {
			r.Checkpoint, r.Err = nil, fmt.Errorf("record %s holds checkpoint %d", id, r.Checkpoint.Number)
		}
	}
	return r, numbered
}
