package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
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
)

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

// toEntry converts a stored document. A malformed hash (tampering) reads as zero, which the
// verifier reports as a hash or link mismatch on that entry.
func toEntry(d entryDoc) Entry {
	prev, _ := ParseHash(d.PrevHash)
	h, _ := ParseHash(d.Hash)
	seq, err := strconv.ParseUint(d.ID, 10, 64)
	if err != nil || len(d.ID) != 20 {
		seq = math.MaxUint64 // not written by Append: reported as out of sequence
	}
	d.Event.Time = canonicalTime(d.Event.Time)
	return Entry{Seq: seq, EventID: d.EventID, PrevHash: prev, Hash: h, Event: d.Event}
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
		var d entryDoc
		err := s.entries.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return Entry{}, false, nil
		}
		if err != nil {
			return Entry{}, false, err
		}
		cached = toEntry(d)
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
	var d entryDoc
	err := s.entries.FindOne(ctx, bson.D{{Key: "_id", Value: EntryDocID(seq)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	return toEntry(d), true, nil
}

// Insert implements EntryStore.
func (s *MongoStore) Insert(ctx context.Context, e Entry) error {
	_, err := s.entries.InsertOne(ctx, toDoc(e))
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("entry %d / event %s: %w", e.Seq, e.EventID, ErrDuplicate)
	}
	if err == nil {
		s.remember(e)
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

// EntryByEventID implements EntryStore.
func (s *MongoStore) EntryByEventID(ctx context.Context, id string) (Entry, bool, error) {
	var d entryDoc
	err := s.entries.FindOne(ctx, bson.D{{Key: "eventId", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	return toEntry(d), true, nil
}

// ScanEntries implements EntryReader.
func (s *MongoStore) ScanEntries(ctx context.Context, from uint64, fn func(Entry) error) error {
	cur, err := s.entries.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: EntryDocID(from)}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d entryDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("entry document %v is unreadable (altered?): %w", cur.Current.Lookup("_id"), err)
		}
		if err := fn(toEntry(d)); err != nil {
			return err
		}
	}
	return cur.Err()
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
	var c Checkpoint
	if err := json.Unmarshal([]byte(d.JSON), &c); err != nil {
		return nil, fmt.Errorf("checkpoint record %s is unreadable: %w", d.Number, err)
	}
	return &c, nil
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
