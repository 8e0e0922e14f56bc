package tenancy

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Issue 23: the tenant-scoped store accepts only the update operators it knows, and nothing that
// could write, rename or unset the tenant field. Each case runs against FerretDB: a refused update
// changes nothing, an accepted one applies and leaves the tenant as it was.

func seedThing(t *testing.T, c *Collection, id string) {
	t.Helper()
	_, _ = testDB.Collection(c.Name()).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: c.DocID(id)}})
	if err := c.InsertOne(context.Background(), bson.D{{Key: "_id", Value: c.DocID(id)}, {Key: "name", Value: "n"},
		{Key: "n", Value: int32(1)}, {Key: "list", Value: bson.A{"a"}}}); err != nil {
		t.Fatal(err)
	}
}

func rawThing(t *testing.T, c *Collection, id string) bson.M {
	t.Helper()
	var m bson.M
	if err := testDB.Collection(c.Name()).FindOne(context.Background(), bson.D{{Key: "_id", Value: c.DocID(id)}}).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func op(name string, arg any) bson.D { return bson.D{{Key: name, Value: arg}} }

// TestUpdateOperatorAllowList: every operator of UpdateOperators applies (and keeps the tenant); every
// other operator is refused before anything is sent.
func TestUpdateOperatorAllowList(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-ops").Collection("ops")
	accepted := map[string]bson.D{
		"$set":         {{Key: "name", Value: "x"}},
		"$unset":       {{Key: "name", Value: ""}},
		"$inc":         {{Key: "n", Value: 1}},
		"$mul":         {{Key: "n", Value: 2}},
		"$min":         {{Key: "n", Value: 0}},
		"$max":         {{Key: "n", Value: 5}},
		"$currentDate": {{Key: "at", Value: true}},
		"$push":        {{Key: "list", Value: "b"}},
		"$pull":        {{Key: "list", Value: "a"}},
		"$addToSet":    {{Key: "list", Value: "c"}},
		"$pop":         {{Key: "list", Value: 1}},
	}
	if len(accepted) != len(UpdateOperators) {
		t.Fatalf("the test covers %d operators, UpdateOperators lists %d", len(accepted), len(UpdateOperators))
	}
	for name, arg := range accepted {
		if !UpdateOperators[name] {
			t.Errorf("%s is not on the allow-list", name)
		}
		seedThing(t, c, "doc")
		before := rawThing(t, c, "doc")
		res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("doc")}}, op(name, arg))
		if err != nil || res.MatchedCount != 1 {
			t.Errorf("%s refused: %v", name, err)
			continue
		}
		after := rawThing(t, c, "doc")
		if after["tenantId"] != "tenant-ops" {
			t.Errorf("%s changed the tenant to %v", name, after["tenantId"])
		}
		if bsonEqual(t, before, after) {
			t.Errorf("%s did not apply", name)
		}
	}
	for _, name := range []string{"$rename", "$setOnInsert", "$bit", "$where", "$replaceWith", "$project", "$addFields", "$", "$SET", "$ set"} {
		seedThing(t, c, "doc")
		before := rawThing(t, c, "doc")
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("doc")}}, op(name, bson.D{{Key: "name", Value: "y"}}))
		if !errors.Is(err, ErrUpdateOperator) {
			t.Errorf("%s: %v, want ErrUpdateOperator", name, err)
		}
		if _, err := c.UpdateMany(ctx, bson.D{}, op(name, bson.D{{Key: "name", Value: "y"}})); !errors.Is(err, ErrUpdateOperator) {
			t.Errorf("UpdateMany %s: %v, want ErrUpdateOperator", name, err)
		}
		if !bsonEqual(t, before, rawThing(t, c, "doc")) {
			t.Errorf("refused %s changed the document", name)
		}
	}
}

// TestRenameIntoTenantRefused: {$rename: {name: tenantId}} would move the document to another
// tenant (its value names the target field); it is refused and the document stays.
func TestRenameIntoTenantRefused(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-rn").Collection("ops")
	seedThing(t, c, "r")
	_, _ = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("r")}}, op("$set", bson.D{{Key: "name", Value: "tenant-victim"}}))
	for _, upd := range []bson.D{
		op("$rename", bson.D{{Key: "name", Value: "tenantId"}}),
		op("$rename", bson.D{{Key: "tenantId", Value: "old"}}),
		op("$rename", bson.D{{Key: "name", Value: "other"}}),
	} {
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("r")}}, upd); err == nil {
			t.Errorf("%v accepted", upd)
		}
	}
	if got := rawThing(t, c, "r"); got["tenantId"] != "tenant-rn" || got["name"] != "tenant-victim" {
		t.Fatalf("document after the refused renames: %v", got)
	}
}

// TestDottedTenantPathsRefused: the tenant field and every path under it are refused in every
// accepted operator, at the top and nested (issue 23 mutant 6).
func TestDottedTenantPathsRefused(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-dot").Collection("ops")
	seedThing(t, c, "d")
	for name := range UpdateOperators {
		for _, key := range []string{"tenantId", "tenantId.x", "tenantId.$", "tenantId.0"} {
			if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("d")}}, op(name, bson.D{{Key: key, Value: 1}})); !errors.Is(err, ErrTenantInQuery) {
				t.Errorf("%s {%s: 1}: %v, want ErrTenantInQuery", name, key, err)
			}
		}
	}
	for _, upd := range []bson.D{
		op("$set", bson.D{{Key: "name", Value: "ok"}, {Key: "tenantId", Value: "other"}}),
		op("$set", bson.D{{Key: "meta", Value: bson.D{{Key: "tenantId", Value: "other"}}}}),
		op("$set", bson.D{{Key: "meta", Value: bson.M{"tenantId": "other"}}}),
		op("$push", bson.D{{Key: "list", Value: bson.A{bson.D{{Key: "tenantId", Value: "other"}}}}}),
		{{Key: "$set", Value: bson.D{{Key: "name", Value: "ok"}}}, {Key: "$unset", Value: bson.D{{Key: "tenantId", Value: ""}}}},
	} {
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("d")}}, upd); !errors.Is(err, ErrTenantInQuery) {
			t.Errorf("%v: %v, want ErrTenantInQuery", upd, err)
		}
	}
	if got := rawThing(t, c, "d"); got["tenantId"] != "tenant-dot" || got["name"] != "n" {
		t.Fatalf("document after the refused updates: %v", got)
	}
}

// TestNonDocumentArgumentsRefused: an operator argument must be a bson.D: pipelines ([]bson.D,
// bson.A) and maps are refused before anything is sent, whatever they hold.
func TestNonDocumentArgumentsRefused(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-arg").Collection("ops")
	seedThing(t, c, "a")
	for _, arg := range []any{
		[]bson.D{{{Key: "$set", Value: bson.D{{Key: "tenantId", Value: "other"}}}}},
		bson.A{bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "x"}}}}},
		bson.M{"tenantId": "other"}, map[string]any{"name": "x"}, "tenantId", nil,
	} {
		if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("a")}}, op("$set", arg)); !errors.Is(err, ErrUpdateOperator) {
			t.Errorf("$set %T: %v, want ErrUpdateOperator", arg, err)
		}
	}
	if _, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("a")}}, bson.D{}); err == nil {
		t.Error("empty update accepted")
	}
	if got := rawThing(t, c, "a"); got["tenantId"] != "tenant-arg" || got["name"] != "n" {
		t.Fatalf("document after the refused updates: %v", got)
	}
}

// TestFilterCannotNameTenantAtAnyDepth: a filter naming the tenant field anywhere (inside $or as
// bson.A, []bson.D or maps, or under $not) is refused (issue 23 mutant 6's []bson.D case).
func TestFilterCannotNameTenantAtAnyDepth(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-flt").Collection("ops")
	for _, f := range []bson.D{
		{{Key: "tenantId", Value: "other"}},
		{{Key: "tenantId.x", Value: 1}},
		{{Key: "$or", Value: []bson.D{{{Key: "tenantId", Value: "other"}}}}},
		{{Key: "$or", Value: bson.A{bson.D{{Key: "name", Value: "x"}}, bson.D{{Key: "tenantId", Value: "other"}}}}},
		{{Key: "$or", Value: bson.A{bson.M{"tenantId": "other"}}}},
		{{Key: "$and", Value: bson.A{bson.A{bson.D{{Key: "tenantId", Value: "other"}}}}}},
		{{Key: "name", Value: bson.D{{Key: "$not", Value: bson.D{{Key: "tenantId", Value: 1}}}}}},
	} {
		if err := c.FindOne(ctx, f).Err(); !errors.Is(err, ErrTenantInQuery) {
			t.Errorf("FindOne %v: %v", f, err)
		}
		if _, err := c.UpdateMany(ctx, f, op("$set", bson.D{{Key: "name", Value: "x"}})); !errors.Is(err, ErrTenantInQuery) {
			t.Errorf("UpdateMany %v: %v", f, err)
		}
		if _, err := c.DeleteOne(ctx, f); !errors.Is(err, ErrTenantInQuery) {
			t.Errorf("DeleteOne %v: %v", f, err)
		}
		if _, err := c.CountDocuments(ctx, f); !errors.Is(err, ErrTenantInQuery) {
			t.Errorf("CountDocuments %v: %v", f, err)
		}
	}
}

// TestUpdateNeverUpserts: an update that matches nothing inserts nothing (the store offers no
// upsert, so no upsert can carry another tenant).
func TestUpdateNeverUpserts(t *testing.T) {
	ctx := context.Background()
	c := store(t, "tenant-ups").Collection("ops")
	res, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.DocID("missing")}}, op("$set", bson.D{{Key: "name", Value: "x"}}))
	if err != nil || res.MatchedCount != 0 || res.UpsertedCount != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if n, _ := testDB.Collection("ops").CountDocuments(ctx, bson.D{{Key: "_id", Value: c.DocID("missing")}}); n != 0 {
		t.Fatal("an update inserted a document")
	}
}

func bsonEqual(t *testing.T, a, b bson.M) bool {
	t.Helper()
	return reflect.DeepEqual(a, b)
}

// TestOneFieldFilterIsTenantScoped: only a filter that is exactly {_id: "<tenant>:<id>"} goes out
// without the tenant condition; a one-field filter on any other field is scoped like any filter.
func TestOneFieldFilterIsTenantScoped(t *testing.T) {
	ctx := context.Background()
	a, b := store(t, "tenant-one-a").Collection("one"), store(t, "tenant-one-b").Collection("one")
	seedThing(t, a, "x")
	if _, err := a.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.DocID("x")}}, op("$set", bson.D{{Key: "name", Value: "only-a"}})); err != nil {
		t.Fatal(err)
	}
	if err := b.FindOne(ctx, bson.D{{Key: "name", Value: "only-a"}}).Err(); err == nil {
		t.Fatal("tenant b found tenant a's document by a one-field filter")
	}
	if n, err := b.CountDocuments(ctx, bson.D{{Key: "name", Value: "only-a"}}); err != nil || n != 0 {
		t.Fatalf("tenant b counts %d (%v)", n, err)
	}
	if n, err := a.CountDocuments(ctx, bson.D{{Key: "name", Value: "only-a"}}); err != nil || n != 1 {
		t.Fatalf("tenant a counts %d (%v)", n, err)
	}
}

// TestSplitDocID: a stored _id splits into a valid tenant and a non-empty id, or not at all.
func TestSplitDocID(t *testing.T) {
	if tenant, id, ok := SplitDocID("acme:p1"); !ok || tenant != "acme" || id != "p1" {
		t.Fatalf("%q %q %v", tenant, id, ok)
	}
	for _, bad := range []string{"acme", "acme:", ":p1", "Not A Tenant:p1", ""} {
		if _, _, ok := SplitDocID(bad); ok {
			t.Errorf("%q split", bad)
		}
	}
}

// TestMapsInFiltersAreSearched: a map (not only bson.M) naming the tenant is refused too.
func TestMapsInFiltersAreSearched(t *testing.T) {
	c := store(t, "tenant-map").Collection("ops")
	f := bson.D{{Key: "$or", Value: bson.A{map[string]any{"tenantId": "other"}}}}
	if err := c.FindOne(context.Background(), f).Err(); !errors.Is(err, ErrTenantInQuery) {
		t.Fatalf("%v", err)
	}
}
