// Package maintenance is the switch that stops the application writing while the database is
// being replaced or emptied (a restore's load and switch, a tenant's offboarding): one document in
// the database itself, so every API instance in every region sees the same state without another
// service. While it is on the API answers writes with 503 and Retry-After and keeps serving reads.
//
// The API reads the switch through a Gate, which caches it for at most GateTTL, so a caller that
// turns the switch on must wait Settle before it relies on no more writes arriving (writes already
// in flight when the switch was read finish within the handler's own timeout, also bounded by it).
//
// The collection has the prefix backups reserve ("_caro_"): a backup never copies it and a
// restore's switch never renames or drops it, so the switch outlives the data it protects.
package maintenance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Collection holds at most one document, docID, while the switch is on.
const Collection = "_caro_maintenance"

const docID = "switch"

// GateTTL is how long a Gate trusts what it read. Settle is how long after On a caller waits before
// it relies on every API instance refusing writes: one GateTTL for the caches, plus the longest a
// write that passed the gate just before may still take (the handler's database timeout).
const (
	GateTTL = 2 * time.Second
	Settle  = GateTTL + 10*time.Second
)

// RetryAfter is what the API tells a refused writer to wait.
const RetryAfter = 30 * time.Second

// WriteWindow is how long a background writer's write may take after its Gate said the switch was
// off: with the gate's cache (GateTTL) every such write ends within Settle of the switch turning on.
const WriteWindow = Settle - GateTTL

// ErrOn is why a background writer (the API's outbox reconciler, its index creation) does not
// write: the switch is on. Gate.Check wraps it, naming the holder.
var ErrOn = errors.New("the maintenance switch is on")

// ErrHeldByOther is returned by On and Off when another owner holds the switch.
var ErrHeldByOther = errors.New("the maintenance switch is held by another operation")

// State is the switch's document: who turned it on, when and why.
type State struct {
	ID string `bson:"_id" json:"-"`
	// Owner names the operation holding the switch, e.g. "restore 20261207T101500Z-ab12cd34" or
	// "tenant-delete acme": only the same owner turns it off (or an operator with force).
	Owner  string    `bson:"owner" json:"owner"`
	Reason string    `bson:"reason" json:"reason"`
	Since  time.Time `bson:"since" json:"since"`
}

// On turns the switch on for owner. It is idempotent for the same owner (a resumed operation keeps
// its switch and its original time) and refuses, with ErrHeldByOther naming the holder, when
// another owner holds it.
func On(ctx context.Context, db *mongo.Database, owner, reason string) (State, error) {
	if owner == "" {
		return State{}, errors.New("maintenance: an owner is required")
	}
	s := State{ID: docID, Owner: owner, Reason: reason, Since: time.Now().UTC().Truncate(time.Millisecond)} // the precision MongoDB stores
	_, err := db.Collection(Collection).InsertOne(ctx, s)
	if err == nil {
		return s, nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return State{}, fmt.Errorf("turning the maintenance switch on in %s.%s: %w", db.Name(), Collection, err)
	}
	cur, err := Get(ctx, db)
	if err != nil {
		return State{}, err
	}
	if cur == nil { // turned off between our insert and our read: try once more
		return On(ctx, db, owner, reason)
	}
	if cur.Owner != owner {
		return *cur, fmt.Errorf("%w: %s since %s (%s)", ErrHeldByOther, cur.Owner, cur.Since.Format(time.RFC3339), cur.Reason)
	}
	return *cur, nil
}

// Off turns the switch off when owner holds it; force turns it off whoever holds it (an operator's
// recovery after a crashed operation). Off when it is already off is not an error. It returns
// whether a switch was removed.
func Off(ctx context.Context, db *mongo.Database, owner string, force bool) (bool, error) {
	filter := bson.D{{Key: "_id", Value: docID}}
	if !force {
		filter = append(filter, bson.E{Key: "owner", Value: owner})
	}
	res, err := db.Collection(Collection).DeleteOne(ctx, filter)
	if err != nil {
		return false, fmt.Errorf("turning the maintenance switch off in %s.%s: %w", db.Name(), Collection, err)
	}
	if res.DeletedCount > 0 || force {
		return res.DeletedCount > 0, nil
	}
	cur, err := Get(ctx, db)
	if err != nil {
		return false, err
	}
	if cur != nil {
		return false, fmt.Errorf("%w: %s since %s, not %s", ErrHeldByOther, cur.Owner, cur.Since.Format(time.RFC3339), owner)
	}
	return false, nil
}

// Transfer hands the switch from one owner to another in one single-document update, so it is
// never off in between (an API instance reading it then would cache "off" for GateTTL): a
// standby's pre-staged copy stays guarded while a failover takes it over. The switch keeps its
// time (the API has seen it since). It returns ErrHeldByOther when from does not hold it.
func Transfer(ctx context.Context, db *mongo.Database, from, to, reason string) (State, error) {
	if to == "" {
		return State{}, errors.New("maintenance: an owner is required")
	}
	res, err := db.Collection(Collection).UpdateOne(ctx, bson.D{{Key: "_id", Value: docID}, {Key: "owner", Value: from}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: to}, {Key: "reason", Value: reason}}}})
	if err != nil {
		return State{}, fmt.Errorf("handing the maintenance switch in %s.%s to %s: %w", db.Name(), Collection, to, err)
	}
	cur, err := Get(ctx, db)
	if err != nil {
		return State{}, err
	}
	if res.MatchedCount == 0 && (cur == nil || cur.Owner != to) {
		if cur == nil {
			return State{}, fmt.Errorf("%w: the switch is off, not held by %s", ErrHeldByOther, from)
		}
		return *cur, fmt.Errorf("%w: %s since %s, not %s", ErrHeldByOther, cur.Owner, cur.Since.Format(time.RFC3339), from)
	}
	return *cur, nil
}

// Get returns the switch, nil when it is off.
func Get(ctx context.Context, db *mongo.Database) (*State, error) {
	var s State
	err := db.Collection(Collection).FindOne(ctx, bson.D{{Key: "_id", Value: docID}}).Decode(&s)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the maintenance switch in %s.%s: %w", db.Name(), Collection, err)
	}
	return &s, nil
}

// Gate is the API's cached view of the switch: at most one read per GateTTL per process. It is safe
// for concurrent use.
type Gate struct {
	DB  *mongo.Database
	Now func() time.Time // default time.Now

	mu      sync.Mutex
	state   *State
	readAt  time.Time
	lastErr error
}

// Current returns the switch as last read, reading it again when the read is older than GateTTL.
// A read that fails is returned as an error (the API then refuses writes: it cannot tell).
func (g *Gate) Current(ctx context.Context) (*State, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := now(); !g.readAt.IsZero() && t.Sub(g.readAt) < GateTTL && g.lastErr == nil {
		return g.state, nil
	}
	s, err := Get(ctx, g.DB)
	g.state, g.readAt, g.lastErr = s, now(), err
	return s, err
}

// Check is the question a background writer asks before each write: nil when the switch is off, an
// error wrapping ErrOn that names the holder when it is on, or the read's error when the switch
// cannot be read (fail closed: do not write). Run the write itself within WriteWindow.
func (g *Gate) Check(ctx context.Context) error {
	s, err := g.Current(ctx)
	if err != nil {
		return err
	}
	if s != nil {
		return fmt.Errorf("%w: %s since %s (%s)", ErrOn, s.Owner, s.Since.Format(time.RFC3339), s.Reason)
	}
	return nil
}
