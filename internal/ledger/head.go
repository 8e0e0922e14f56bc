package ledger

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The head hint is not part of the ledger (nothing verifies or trusts it): its one update, which
// only ever raises it, is the package's only update (TestNoUpdateOrDeleteCodePath).

// headDoc is the document of HeadCollection.
type headDoc struct {
	ID   string `bson:"_id"`
	Seq  int64  `bson:"seq"`
	Hash string `bson:"hash"`
}

// RecordedHead implements HeadRecorder: one point read of a one-document collection.
func (s *MongoStore) RecordedHead(ctx context.Context) (uint64, Hash, bool, error) {
	var d headDoc
	err := s.db.Collection(HeadCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "head"}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, Hash{}, false, nil
	}
	if err != nil {
		return 0, Hash{}, false, err
	}
	h, err := ParseHash(d.Hash)
	if err != nil || d.Seq < 0 {
		return 0, Hash{}, false, nil // an unreadable hint is no hint
	}
	return uint64(d.Seq), h, true, nil
}

// RecordHead implements HeadRecorder: one conditional upsert that only raises the hint (a lower
// or equal one matches nothing and its upsert is refused by the unique _id, which is ignored).
func (s *MongoStore) RecordHead(ctx context.Context, e Entry) error {
	_, err := s.db.Collection(HeadCollection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: "head"}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: int64(e.Seq)}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: int64(e.Seq)}, {Key: "hash", Value: e.Hash.String()}}}},
		options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}
