package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// HoldCollection holds at most one document, HoldDocID, while a restored database's ledger waits
// for its recovery (see the package doc, "The ledger hold"). Its name has the prefix the backup
// reserves ("_caro_"), so a backup never copies it and a restore's switch never renames or drops
// it: the hold a restore places outlives the switch of the ledger collections.
const HoldCollection = "_caro_ledger_hold"

// HoldDocID is the _id of the one hold document.
const HoldDocID = "hold"

// ErrLedgerHeld is returned (wrapped) by Append and Checkpointer.Run while the ledger hold exists:
// the database was restored and the entries the restore rolled back are not recovered yet, so an
// append now would fork the chain from the signed checkpoints. It is retryable: the audit writer
// fails the message, SNS/Lambda retry it, and it ends in the dead-letter queue (which alarms) if the
// hold outlives the retries; nothing is dropped.
var ErrLedgerHeld = errors.New("the audit ledger is held after a database restore until it is recovered: run `caro audit recover` " +
	"(or, if recovery is impossible, `caro audit release-hold`); the event is retried, then kept in the dead-letter queue")

// Hold is the hold document: which restore placed it, when and why.
type Hold struct {
	ID       string    `bson:"_id" json:"-"`
	BackupID string    `bson:"backupId" json:"backupId"`
	Time     time.Time `bson:"time" json:"time"`
	Reason   string    `bson:"reason" json:"reason"`
}

// HoldChecker is implemented by stores that know the ledger hold (MongoStore). Append and the
// Checkpointer ask it before writing; a store without it is never held (unit tests' memory store).
type HoldChecker interface {
	// Held returns the hold, nil when there is none.
	Held(ctx context.Context) (*Hold, error)
}

// HoldReleaser is implemented by stores whose hold Recover removes after a successful recovery.
type HoldReleaser interface {
	// ReleaseHold removes the hold; no hold is not an error. It returns whether one was removed.
	ReleaseHold(ctx context.Context) (bool, error)
}

// heldError says, when a hold exists, why the ledger refuses to write.
func heldError(ctx context.Context, store any) error {
	hc, ok := store.(HoldChecker)
	if !ok {
		return nil
	}
	h, err := hc.Held(ctx)
	if err != nil {
		return fmt.Errorf("reading the ledger hold: %w", err)
	}
	if h == nil {
		return nil
	}
	return fmt.Errorf("%w (hold placed %s by the restore of backup %q: %s)", ErrLedgerHeld, h.Time.UTC().Format(time.RFC3339), h.BackupID, h.Reason)
}

// PlaceHold writes the hold document into db (replacing none: a hold already there, from an
// earlier restore not yet recovered, is kept, since its entries are still missing). placed says
// whether this call wrote it. The restore calls it before it switches any collection.
func PlaceHold(ctx context.Context, db *mongo.Database, h Hold) (placed bool, err error) {
	h.ID = HoldDocID
	if h.Time.IsZero() {
		h.Time = time.Now().UTC()
	}
	_, err = db.Collection(HoldCollection).InsertOne(ctx, h)
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("placing the audit ledger hold in %s.%s: %w", db.Name(), HoldCollection, err)
	}
	return true, nil
}

// ReadHold returns db's ledger hold, nil when there is none.
func ReadHold(ctx context.Context, db *mongo.Database) (*Hold, error) {
	var h Hold
	err := db.Collection(HoldCollection).FindOne(ctx, bson.D{{Key: "_id", Value: HoldDocID}}).Decode(&h)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// ReleaseHold removes db's ledger hold (the only delete in this package: the hold is not part of
// the ledger). It returns whether there was one.
func ReleaseHold(ctx context.Context, db *mongo.Database) (bool, error) {
	res, err := db.Collection(HoldCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: HoldDocID}})
	if err != nil {
		return false, fmt.Errorf("removing the audit ledger hold from %s.%s: %w", db.Name(), HoldCollection, err)
	}
	return res.DeletedCount > 0, nil
}

// Held implements HoldChecker: one point read by _id (the collection holds at most one document,
// so it is cheap on FerretDB too).
func (s *MongoStore) Held(ctx context.Context) (*Hold, error) { return ReadHold(ctx, s.db) }

// ReleaseHold implements HoldReleaser.
func (s *MongoStore) ReleaseHold(ctx context.Context) (bool, error) { return ReleaseHold(ctx, s.db) }

// HoldIfLedger places the hold (PlaceHold) when db holds a ledger (an EntriesCollection), as after
// an Atlas snapshot restore, which brings back the whole database at once: held says whether db is
// held now (by this call or an earlier restore). A database without a ledger is not held.
func HoldIfLedger(ctx context.Context, db *mongo.Database, h Hold) (held bool, err error) {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: EntriesCollection}})
	if err != nil {
		return false, fmt.Errorf("placing the audit ledger hold: listing the collections of %s: %w", db.Name(), err)
	}
	if len(names) == 0 {
		return false, nil
	}
	if _, err := PlaceHold(ctx, db, h); err != nil {
		return false, err
	}
	return true, nil
}
