package audit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SubjectKeysCollection is the collection that holds one random key per (tenant, data subject).
const SubjectKeysCollection = "subject_keys"

// SubjectKeySize is the length of a subject key in bytes (256 bits, the HMAC-SHA256 block-safe size).
const SubjectKeySize = 32

// ErrSubjectKeyNotFound means the subject has no key: it was never created, or the subject was
// erased (crypto-shredded). Either way no reference can be made or checked for it any more.
var ErrSubjectKeyNotFound = errors.New("audit: subject key not found (never created or erased)")

// SubjectKey is the secret of one data subject. Audit events name the subject only through keyed
// hashes made with it (Ref, StateHash); deleting the key (SubjectKeys.Erase) makes every such hash in
// the ledger unlinkable to the person, while the events themselves stay intact and verifiable.
type SubjectKey [SubjectKeySize]byte

// Ref is the subject reference put in Event.SubjectRef: hex HMAC-SHA256 over the tenant and subject
// ID under the subject's key. The same subject always gets the same Ref while the key exists, so the
// ledger can list a subject's events (for an export) by recomputing it; after erasure nobody can.
func (k SubjectKey) Ref(tenantID, subjectID string) string {
	return k.mac("caro/subject-ref/v1", tenantID, subjectID)
}

// StateHash is the digest put in Event.BeforeHash/AfterHash for a resource of this subject: hex
// HMAC-SHA256 of the resource's canonical state under the subject key. A plain SHA-256 of a small
// record (a name and a birth date) could be confirmed by guessing; keyed, it cannot, and erasing the
// key makes it meaningless.
func (k SubjectKey) StateHash(state []byte) string {
	return k.mac("caro/state/v1", string(state))
}

// Matches reports in constant time whether ref is this key's reference for the subject.
func (k SubjectKey) Matches(ref, tenantID, subjectID string) bool {
	return hmac.Equal([]byte(ref), []byte(k.Ref(tenantID, subjectID)))
}

func (k SubjectKey) mac(domain string, parts ...string) string {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(domain))
	for _, p := range parts {
		// Length-prefix every part so ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(m, "\x00%d:", len(p))
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// subjectKeyDoc is the stored form of a key. The (tenantId, subjectId) pair is unique (index
// subject_keys_tenant_subject), so two racing creators end up with the same key.
type subjectKeyDoc struct {
	ID        string    `bson:"_id"`
	TenantID  string    `bson:"tenantId"`
	SubjectID string    `bson:"subjectId"`
	Key       []byte    `bson:"key"`
	CreatedAt time.Time `bson:"createdAt"`
}

// SubjectKeys stores the per-subject keys in the subject_keys collection. Every method takes the
// tenant explicitly and refuses an empty one.
type SubjectKeys struct {
	coll *mongo.Collection
}

// NewSubjectKeys returns the key store on db's subject_keys collection.
func NewSubjectKeys(db *mongo.Database) *SubjectKeys {
	return &SubjectKeys{coll: db.Collection(SubjectKeysCollection)}
}

// SubjectKeysIn returns the key store on another collection holding subject keys in the same
// shape, such as a restore's staging copy of subject_keys (internal/erasure re-applies erasures
// there before the restore switches it into place).
func SubjectKeysIn(coll *mongo.Collection) *SubjectKeys {
	return &SubjectKeys{coll: coll}
}

// EnsureIndexes creates the unique (tenantId, subjectId) index. Safe to call on every start.
func (s *SubjectKeys) EnsureIndexes(ctx context.Context) error {
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "tenantId", Value: 1}, {Key: "subjectId", Value: 1}},
		Options: options.Index().SetName("subject_keys_tenant_subject").SetUnique(true),
	})
	if err != nil {
		return fmt.Errorf("create subject_keys index: %w", err)
	}
	return nil
}

func checkSubject(tenantID, subjectID string) error {
	if tenantID == "" || subjectID == "" {
		return errors.New("audit: subject key needs a tenant and a subject ID")
	}
	return nil
}

func filterFor(tenantID, subjectID string) bson.D {
	return bson.D{{Key: "tenantId", Value: tenantID}, {Key: "subjectId", Value: subjectID}}
}

// Create returns the subject's key, making a new random one if it has none. It is idempotent and
// race-safe: a concurrent creator losing on the unique index reads the winner's key.
func (s *SubjectKeys) Create(ctx context.Context, tenantID, subjectID string) (SubjectKey, error) {
	if err := checkSubject(tenantID, subjectID); err != nil {
		return SubjectKey{}, err
	}
	var k SubjectKey
	if _, err := rand.Read(k[:]); err != nil {
		return SubjectKey{}, fmt.Errorf("audit: crypto/rand failed: %w", err)
	}
	doc := subjectKeyDoc{ID: NewEventID(), TenantID: tenantID, SubjectID: subjectID, Key: k[:],
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	_, err := s.coll.InsertOne(ctx, doc)
	if err == nil {
		return k, nil
	}
	if mongo.IsDuplicateKeyError(err) {
		return s.Get(ctx, tenantID, subjectID)
	}
	return SubjectKey{}, fmt.Errorf("store subject key: %w", err)
}

// CreateMany makes fresh random keys for new subject IDs (IDs that have no key yet) in one round
// trip, for callers that allocate subject IDs ahead of use. All keys are stored when it returns nil;
// on an error some may be stored and the caller must not use any of them (an unused key names no
// one and holds no personal data).
func (s *SubjectKeys) CreateMany(ctx context.Context, tenantID string, subjectIDs []string) ([]SubjectKey, error) {
	if len(subjectIDs) == 0 {
		return nil, nil
	}
	keys := make([]SubjectKey, len(subjectIDs))
	docs := make([]any, len(subjectIDs))
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, id := range subjectIDs {
		if err := checkSubject(tenantID, id); err != nil {
			return nil, err
		}
		if _, err := rand.Read(keys[i][:]); err != nil {
			return nil, fmt.Errorf("audit: crypto/rand failed: %w", err)
		}
		docs[i] = subjectKeyDoc{ID: NewEventID(), TenantID: tenantID, SubjectID: id, Key: keys[i][:], CreatedAt: now}
	}
	if _, err := s.coll.InsertMany(ctx, docs); err != nil {
		return nil, fmt.Errorf("store subject keys: %w", err)
	}
	return keys, nil
}

// Get returns the subject's key, or ErrSubjectKeyNotFound.
func (s *SubjectKeys) Get(ctx context.Context, tenantID, subjectID string) (SubjectKey, error) {
	if err := checkSubject(tenantID, subjectID); err != nil {
		return SubjectKey{}, err
	}
	var doc subjectKeyDoc
	err := s.coll.FindOne(ctx, filterFor(tenantID, subjectID)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return SubjectKey{}, ErrSubjectKeyNotFound
	}
	if err != nil {
		return SubjectKey{}, fmt.Errorf("read subject key: %w", err)
	}
	var k SubjectKey
	if len(doc.Key) != SubjectKeySize {
		return SubjectKey{}, fmt.Errorf("read subject key: stored key has %d bytes, want %d", len(doc.Key), SubjectKeySize)
	}
	copy(k[:], doc.Key)
	return k, nil
}

// Ref returns the subject reference (SubjectKey.Ref) using the stored key, or ErrSubjectKeyNotFound
// when the subject was erased.
func (s *SubjectKeys) Ref(ctx context.Context, tenantID, subjectID string) (string, error) {
	k, err := s.Get(ctx, tenantID, subjectID)
	if err != nil {
		return "", err
	}
	return k.Ref(tenantID, subjectID), nil
}

// Erase deletes the subject's key (crypto-shredding): afterwards no SubjectRef or state hash of the
// subject can be recomputed or linked to them. Erasing a subject without a key is not an error, so
// an interrupted erasure can simply be run again.
func (s *SubjectKeys) Erase(ctx context.Context, tenantID, subjectID string) error {
	if err := checkSubject(tenantID, subjectID); err != nil {
		return err
	}
	if _, err := s.coll.DeleteMany(ctx, filterFor(tenantID, subjectID)); err != nil {
		return fmt.Errorf("erase subject key: %w", err)
	}
	return nil
}

// EraseMany deletes the keys of several subjects of one tenant in one round trip (a tenant's
// offboarding shreds every key of the tenant, a batch at a time). It returns how many keys were
// deleted; subjects without a key are not an error.
func (s *SubjectKeys) EraseMany(ctx context.Context, tenantID string, subjectIDs []string) (int64, error) {
	if len(subjectIDs) == 0 {
		return 0, nil
	}
	for _, id := range subjectIDs {
		if err := checkSubject(tenantID, id); err != nil {
			return 0, err
		}
	}
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: "tenantId", Value: tenantID}, {Key: "subjectId", Value: bson.D{{Key: "$in", Value: subjectIDs}}}})
	if err != nil {
		return 0, fmt.Errorf("erase subject keys: %w", err)
	}
	return res.DeletedCount, nil
}
