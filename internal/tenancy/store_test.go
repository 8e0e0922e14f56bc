package tenancy

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/localstack"
)

var testDB *mongo.Database

func TestMain(m *testing.M) {
	os.Exit(localstack.RunWithFerretDB(m, func(_ string, client *mongo.Client) error {
		testDB = client.Database("tenancy_test")
		return nil
	}))
}

func store(t *testing.T, tenant string) *Store {
	t.Helper()
	p, err := PrincipalFromClaims(map[string]any{"sub": "u-" + tenant, "custom:tenant_id": tenant})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(testDB, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type thing struct {
	ID       string `bson:"_id"`
	TenantID string `bson:"tenantId,omitempty"`
	Name     string `bson:"name"`
}

func TestStoreIsolatesTenants(t *testing.T) {
	ctx := context.Background()
	a, b := store(t, "tenant-a"), store(t, "tenant-b")
	ca, cb := a.Collection("things"), b.Collection("things")
	a1 := ca.DocID("a1")
	if a1 != "tenant-a:a1" {
		t.Fatalf("DocID %q", a1)
	}
	if err := ca.InsertOne(ctx, thing{ID: a1, Name: "from a"}); err != nil {
		t.Fatal(err)
	}
	// The stored document carries tenant a.
	var raw bson.M
	if err := testDB.Collection("things").FindOne(ctx, bson.D{{Key: "_id", Value: a1}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["tenantId"] != "tenant-a" {
		t.Fatalf("stored tenant %v", raw["tenantId"])
	}
	// Tenant b sees, changes and deletes nothing of tenant a: its own DocID misses, and a's _id is
	// refused outright.
	if err := cb.FindOne(ctx, bson.D{{Key: "_id", Value: cb.DocID("a1")}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("tenant b found a's document: %v", err)
	}
	if err := cb.FindOne(ctx, bson.D{{Key: "_id", Value: a1}}).Err(); !errors.Is(err, ErrForeignID) {
		t.Fatalf("tenant b used a's _id: %v", err)
	}
	if err := cb.InsertOne(ctx, thing{ID: a1, Name: "overwrite"}); !errors.Is(err, ErrForeignID) {
		t.Fatalf("tenant b inserted with a's _id: %v", err)
	}
	if id, ok := ca.PublicID(a1); !ok || id != "a1" {
		t.Fatal("PublicID")
	}
	if _, ok := cb.PublicID(a1); ok {
		t.Fatal("PublicID accepted another tenant's _id")
	}
	if n, _ := cb.CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatalf("tenant b counts %d", n)
	}
	res, err := cb.UpdateOne(ctx, bson.D{{Key: "_id", Value: cb.DocID("a1")}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "x"}}}})
	if err != nil || res.MatchedCount != 0 {
		t.Fatalf("tenant b updated a's document: %v %+v", err, res)
	}
	if res, err := cb.DeleteOne(ctx, bson.D{{Key: "_id", Value: cb.DocID("a1")}}); err != nil || res.DeletedCount != 0 {
		t.Fatalf("tenant b deleted a's document: %v %+v", err, res)
	}
	var got thing
	if err := ca.FindOne(ctx, bson.D{{Key: "_id", Value: a1}}).Decode(&got); err != nil || got.Name != "from a" {
		t.Fatalf("a's document changed: %v %+v", err, got)
	}
}

func TestStoreRefusesTenantFromCaller(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-c").Collection("things")
	or := bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "tenantId", Value: "tenant-a"}}, bson.D{{Key: "_id", Value: "x"}}}}}
	if err := c.FindOne(ctx, or).Err(); !errors.Is(err, ErrTenantInQuery) {
		t.Fatalf("tenant inside $or accepted: %v", err)
	}
	if _, err := c.Find(ctx, bson.D{{Key: "tenantId", Value: bson.D{{Key: "$ne", Value: ""}}}}); !errors.Is(err, ErrTenantInQuery) {
		t.Fatalf("tenant filter accepted: %v", err)
	}
	if err := c.InsertOne(ctx, thing{ID: c.DocID("c1"), TenantID: "tenant-a"}); !errors.Is(err, ErrTenantInQuery) {
		t.Fatalf("insert into another tenant accepted: %v", err)
	}
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "tenantId", Value: "tenant-a"}}}}
	if _, err := c.UpdateOne(ctx, bson.D{}, set); !errors.Is(err, ErrTenantInQuery) {
		t.Fatalf("moving a document to another tenant accepted: %v", err)
	}
	if _, err := c.UpdateOne(ctx, bson.D{}, bson.D{{Key: "name", Value: "replacement"}}); err == nil {
		t.Fatal("replacement update accepted")
	}
}

func TestEnsureIndexesStartWithTenant(t *testing.T) {
	ctx := context.Background()
	err := EnsureIndexes(ctx, testDB, "indexed", Index{Name: "by_name", Keys: bson.D{{Key: "name", Value: 1}}, Unique: true})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := testDB.Collection("indexed").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range specs {
		if s.Name == "by_name" {
			found = true
			var keys bson.D
			if err := bson.Unmarshal(s.KeysDocument, &keys); err != nil || keys[0].Key != TenantField {
				t.Fatalf("index keys %v", keys)
			}
		}
	}
	if !found {
		t.Fatal("index not created")
	}
	// Unique per tenant: the same name in two tenants is fine, twice in one tenant is not.
	a, b := store(t, "idx-a").Collection("indexed"), store(t, "idx-b").Collection("indexed")
	if err := a.InsertOne(ctx, thing{ID: a.DocID("1"), Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertOne(ctx, thing{ID: b.DocID("2"), Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if err := a.InsertOne(ctx, thing{ID: a.DocID("3"), Name: "n"}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate in one tenant: %v", err)
	}
	if err := EnsureIndexes(ctx, testDB, "indexed", Index{Name: "bad", Keys: bson.D{{Key: "tenantId", Value: 1}}}); err == nil {
		t.Fatal("index naming the tenant itself accepted")
	}
}

// TestConcurrentUpdatesAreNotLost: FerretDB v1 would lose concurrent read-modify-write updates of one
// document; through the store (WriteLock) every one of them lands, as on MongoDB.
func TestConcurrentUpdatesAreNotLost(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-inc").Collection("counters")
	id := c.DocID("n")
	if err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	const writers = 20
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var got struct {
		N int `bson:"n"`
	}
	if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil || got.N != writers {
		t.Fatalf("n = %d after %d concurrent increments (%v)", got.N, writers, err)
	}
}
