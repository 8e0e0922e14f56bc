package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// TenantField is the document field that holds the tenant in every tenant-scoped collection.
const TenantField = "tenantId"

// ErrUnverifiedPrincipal is returned by Open for a principal that did not come from
// PrincipalFromClaims.
var ErrUnverifiedPrincipal = errors.New("tenancy: principal is not verified; build it with PrincipalFromClaims")

// ErrTenantInQuery is returned when a caller's filter, update or document tries to set the tenant
// itself: the store owns that field.
var ErrTenantInQuery = errors.New("tenancy: the tenant field is set by the store, not the caller")

// Store is the database as one tenant sees it. Get one with Open; every Collection of it adds the
// tenant to each filter and each written document.
type Store struct {
	db        *mongo.Database
	principal Principal
}

// Open returns the store of the principal's tenant. It refuses a principal that was not verified.
func Open(db *mongo.Database, p Principal) (*Store, error) {
	if !p.verified || !ValidTenantID(p.TenantID) {
		return nil, ErrUnverifiedPrincipal
	}
	return &Store{db: db, principal: p}, nil
}

// TenantID is the tenant of the store.
func (s *Store) TenantID() string { return s.principal.TenantID }

// Principal is the verified principal the store was opened for.
func (s *Store) Principal() Principal { return s.principal }

// Collection returns the tenant-scoped view of the named collection.
func (s *Store) Collection(name string) *Collection {
	return &Collection{coll: s.db.Collection(name), tenant: s.principal.TenantID}
}

// Collection is one collection as the tenant sees it. Filters are bson.D so the tenant can be put
// first; documents are anything that marshals to a BSON document.
type Collection struct {
	coll   *mongo.Collection
	tenant string
}

// Name is the collection name.
func (c *Collection) Name() string { return c.coll.Name() }

// DocID is the stored _id of the tenant's resource id: "<tenant>:<id>". The tenant is part of the
// primary key, so a lookup by _id is tenant-scoped by itself, and a lookup by _id alone is what
// FerretDB (the local server) can answer from its primary key without a scan.
func (c *Collection) DocID(id string) string { return c.tenant + ":" + id }

// PublicID returns the resource id of a stored _id of this tenant, or false for any other _id.
func (c *Collection) PublicID(docID string) (string, bool) {
	t, id, ok := strings.Cut(docID, ":")
	if !ok || t != c.tenant || id == "" {
		return "", false
	}
	return id, true
}

// SplitDocID splits a stored _id into tenant and resource id.
func SplitDocID(docID string) (tenantID, id string, ok bool) {
	t, id, ok := strings.Cut(docID, ":")
	if !ok || !ValidTenantID(t) || id == "" {
		return "", "", false
	}
	return t, id, true
}

// checkDocID refuses a string _id that does not belong to the tenant.
func (c *Collection) checkDocID(v any) error {
	if s, ok := v.(string); ok {
		if _, mine := c.PublicID(s); !mine {
			return ErrForeignID
		}
	}
	return nil
}

// ErrForeignID is returned for a string _id that is not "<this tenant>:<id>" (use DocID).
var ErrForeignID = errors.New("tenancy: _id does not belong to the store's tenant; build it with DocID")

// scope returns filter with the tenant condition first. The caller may not name the tenant field.
// A filter that is exactly {_id: DocID(id)} is already tenant-scoped by its key and is sent as is.
func (c *Collection) scope(filter bson.D) (bson.D, error) {
	if err := refuseTenant(filter); err != nil {
		return nil, err
	}
	for _, e := range filter {
		if e.Key == "_id" {
			if err := c.checkDocID(e.Value); err != nil {
				return nil, err
			}
		}
	}
	if len(filter) == 1 && filter[0].Key == "_id" {
		if _, ok := filter[0].Value.(string); ok {
			return filter, nil
		}
	}
	out := make(bson.D, 0, len(filter)+1)
	out = append(out, bson.E{Key: TenantField, Value: c.tenant})
	return append(out, filter...), nil
}

// refuseTenant refuses any key naming the tenant field, at the top level or inside operators such as
// $or, so a filter can never widen or replace the tenant condition.
func refuseTenant(d bson.D) error {
	for _, e := range d {
		if e.Key == TenantField || strings.HasPrefix(e.Key, TenantField+".") {
			return ErrTenantInQuery
		}
		switch v := e.Value.(type) {
		case bson.D:
			if err := refuseTenant(v); err != nil {
				return err
			}
		case bson.A:
			for _, x := range v {
				if err := refuseTenant(bson.D{{Key: "", Value: x}}); err != nil {
					return err
				}
			}
		case []bson.D:
			for _, dd := range v {
				if err := refuseTenant(dd); err != nil {
					return err
				}
			}
		case bson.M:
			if err := refuseTenant(fromMap(v)); err != nil {
				return err
			}
		case map[string]any:
			if err := refuseTenant(fromMap(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromMap turns a map into a bson.D so refuseTenant can look at its keys.
func fromMap(m map[string]any) bson.D {
	d := make(bson.D, 0, len(m))
	for k, v := range m {
		d = append(d, bson.E{Key: k, Value: v})
	}
	return d
}

// UpdateOperators are the update operators the store accepts, each of which writes only the fields
// its argument names (so refusing the tenant field among those names keeps the tenant the store's).
// Anything else is refused: $rename (its argument's values are field names, so "name" -> "tenantId"
// would move a document to another tenant), $setOnInsert (upserts are not offered), $bit and any
// operator MongoDB adds later, until it is looked at and listed here.
var UpdateOperators = map[string]bool{
	"$set": true, "$unset": true, "$inc": true, "$mul": true, "$min": true, "$max": true,
	"$currentDate": true, "$push": true, "$pull": true, "$addToSet": true, "$pop": true,
}

// ErrUpdateOperator is returned for an update with an operator outside UpdateOperators, or one
// whose argument is not a bson.D.
var ErrUpdateOperator = errors.New("tenancy: update operator not accepted by the tenant-scoped store")

// checkUpdate accepts only operator updates with operators of UpdateOperators, each with a bson.D
// argument that names neither the tenant field nor a path under it (at any depth). Replacements and
// aggregation pipelines are not accepted (the update's type, bson.D, has no room for a pipeline; a
// bson.A or []bson.D argument is refused here too).
func checkUpdate(update bson.D) error {
	if len(update) == 0 {
		return errors.New("tenancy: empty update")
	}
	for _, e := range update {
		if !strings.HasPrefix(e.Key, "$") {
			return fmt.Errorf("tenancy: update key %q is not an operator; replacements are not allowed", e.Key)
		}
		if !UpdateOperators[e.Key] {
			return fmt.Errorf("%w: %s", ErrUpdateOperator, e.Key)
		}
		d, ok := e.Value.(bson.D)
		if !ok {
			return fmt.Errorf("%w: %s needs a bson.D argument, not %T", ErrUpdateOperator, e.Key, e.Value)
		}
		if err := refuseTenant(d); err != nil {
			return err
		}
	}
	return nil
}

// FindOne finds one document of the tenant.
func (c *Collection) FindOne(ctx context.Context, filter bson.D, opts ...options.Lister[options.FindOneOptions]) *mongo.SingleResult {
	f, err := c.scope(filter)
	if err != nil {
		return mongo.NewSingleResultFromDocument(bson.D{}, err, nil)
	}
	return c.coll.FindOne(ctx, f, opts...)
}

// Find finds documents of the tenant.
func (c *Collection) Find(ctx context.Context, filter bson.D, opts ...options.Lister[options.FindOptions]) (*mongo.Cursor, error) {
	f, err := c.scope(filter)
	if err != nil {
		return nil, err
	}
	return c.coll.Find(ctx, f, opts...)
}

// CountDocuments counts documents of the tenant.
func (c *Collection) CountDocuments(ctx context.Context, filter bson.D, opts ...options.Lister[options.CountOptions]) (int64, error) {
	f, err := c.scope(filter)
	if err != nil {
		return 0, err
	}
	return c.coll.CountDocuments(ctx, f, opts...)
}

// InsertOne writes doc with the tenant field set to the store's tenant. A doc that already names a
// tenant must name this one, and a string _id must be this tenant's (DocID).
func (c *Collection) InsertOne(ctx context.Context, doc any) error {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("tenancy: encode document: %w", err)
	}
	r := bson.Raw(raw)
	if v, err := r.LookupErr("_id"); err == nil {
		if s, ok := v.StringValueOK(); ok {
			if err := c.checkDocID(s); err != nil {
				return err
			}
		}
	}
	if v, err := r.LookupErr(TenantField); err == nil {
		if s, ok := v.StringValueOK(); !ok || s != c.tenant {
			return ErrTenantInQuery
		}
	} else {
		// Append the tenant element before the document's terminating zero and fix the length.
		out := append([]byte(nil), raw[:len(raw)-1]...)
		out = bsoncore.AppendStringElement(out, TenantField, c.tenant)
		out = append(out, 0)
		out = bsoncore.UpdateLength(out, 0, int32(len(out)))
		raw = out
	}
	_, err = c.coll.InsertOne(ctx, bson.Raw(raw))
	return err
}

// UpdateOne applies an operator update to one document of the tenant.
func (c *Collection) UpdateOne(ctx context.Context, filter, update bson.D) (*mongo.UpdateResult, error) {
	f, err := c.scope(filter)
	if err != nil {
		return nil, err
	}
	if err := checkUpdate(update); err != nil {
		return nil, err
	}
	defer WriteLock(c.coll.Name())()
	return c.coll.UpdateOne(ctx, f, update)
}

// UpdateMany applies an operator update to the tenant's documents that match filter.
func (c *Collection) UpdateMany(ctx context.Context, filter, update bson.D) (*mongo.UpdateResult, error) {
	f, err := c.scope(filter)
	if err != nil {
		return nil, err
	}
	if err := checkUpdate(update); err != nil {
		return nil, err
	}
	defer WriteLock(c.coll.Name())()
	return c.coll.UpdateMany(ctx, f, update)
}

// DeleteOne deletes one document of the tenant.
func (c *Collection) DeleteOne(ctx context.Context, filter bson.D) (*mongo.DeleteResult, error) {
	f, err := c.scope(filter)
	if err != nil {
		return nil, err
	}
	defer WriteLock(c.coll.Name())()
	return c.coll.DeleteOne(ctx, f)
}

// Index describes an index of a tenant-scoped collection; the tenant is always its first key.
type Index struct {
	// Name of the index.
	Name string
	// Keys follow the tenant key, for example bson.D{{"patientId", 1}, {"_id", 1}}.
	Keys bson.D
	// Unique makes the index unique (per tenant, since the tenant is part of it).
	Unique bool
}

// EnsureIndexes creates the indexes of a tenant-scoped collection, each starting with the tenant field.
// Creating an existing index again is a no-op, so this is safe on every cold start.
func EnsureIndexes(ctx context.Context, db *mongo.Database, collection string, indexes ...Index) error {
	models := make([]mongo.IndexModel, 0, len(indexes))
	for _, ix := range indexes {
		if err := refuseTenant(ix.Keys); err != nil {
			return err
		}
		keys := append(bson.D{{Key: TenantField, Value: 1}}, ix.Keys...)
		opts := options.Index().SetName(ix.Name)
		if ix.Unique {
			opts.SetUnique(true)
		}
		models = append(models, mongo.IndexModel{Keys: keys, Options: opts})
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := db.Collection(collection).Indexes().CreateMany(ctx, models); err != nil {
		return fmt.Errorf("create indexes on %s: %w", collection, err)
	}
	return nil
}
