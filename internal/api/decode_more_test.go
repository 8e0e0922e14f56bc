package api

import (
	"context"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestNestingLimitIsSixteen: sixteen nested levels are accepted, seventeen refused.
func TestNestingLimitIsSixteen(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	var m map[string]any
	if err := DecodeStrict([]byte(nest(maxJSONDepth)), &m); err != nil {
		t.Fatalf("%d levels refused: %v", maxJSONDepth, err)
	}
	expectCode(t, nest(maxJSONDepth+1), &map[string]any{}, CodeInvalidJSON)
	arrays := `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + "}"
	if err := DecodeStrict([]byte(arrays), &m); err != nil {
		t.Fatalf("%d levels of arrays refused: %v", maxJSONDepth, err)
	}
	expectCode(t, `{"a":`+strings.Repeat("[", maxJSONDepth)+strings.Repeat("]", maxJSONDepth)+"}", &map[string]any{}, CodeInvalidJSON)
}

// nested request shapes: names must match exactly at every depth, in slices, maps and embedded
// structs alike.
type embedded struct {
	Inner string `json:"inner"`
}

type tagged struct {
	X string `json:"x"`
}

type nestedShape struct {
	embedded
	Tagged  tagged            `json:"tagged"`
	Items   []tagged          `json:"items"`
	ByName  map[string]tagged `json:"byName"`
	Ptr     *tagged           `json:"ptr"`
	Untag   string
	Skipped string `json:"-"`
	private string //nolint:unused // unexported: no JSON name
}

func TestExactNamesAtEveryDepth(t *testing.T) {
	ok := []string{
		`{"inner":"a"}`, `{"tagged":{"x":"a"}}`, `{"items":[{"x":"a"},{"x":"b"}]}`,
		`{"byName":{"Any Key":{"x":"a"}}}`, `{"ptr":{"x":"a"}}`, `{"Untag":"a"}`,
	}
	for _, body := range ok {
		var v nestedShape
		if err := DecodeStrict([]byte(body), &v); err != nil {
			t.Errorf("%s refused: %v", body, err)
		}
	}
	for _, body := range []string{
		`{"Inner":"a"}`, `{"embedded":{"inner":"a"}}`, `{"tagged":{"X":"a"}}`, `{"items":[{"x":"a"},{"X":"b"}]}`,
		`{"byName":{"k":{"X":"a"}}}`, `{"ptr":{"X":"a"}}`, `{"untag":"a"}`, `{"Skipped":"a"}`, `{"-":"a"}`,
		`{"private":"a"}`,
	} {
		expectCode(t, body, &nestedShape{}, CodeUnknownField)
	}
}

func TestEnsureIndexesCreatesEveryIndex(t *testing.T) {
	ctx := context.Background()
	db := testClient.Database("api_indexes")
	_ = db.Drop(ctx)
	h, err := NewHandler(Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	names := func(coll string) []string {
		cur, err := db.Collection(coll).Indexes().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		var specs []bson.M
		if err := cur.All(ctx, &specs); err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			out = append(out, s["name"].(string))
		}
		sort.Strings(out)
		return out
	}
	for coll, want := range map[string]string{PatientsCollection: "patients_tenant_id", NotesCollection: "notes_tenant_patient_id"} {
		if got := names(coll); !contains(got, want) || len(got) < 3 {
			t.Errorf("%s indexes %v, want %s, _id and the outbox index", coll, got, want)
		}
	}
	for _, coll := range OutboxCollections {
		if got := names(coll); len(got) < 2 {
			t.Errorf("%s indexes %v: the outbox pending index is missing", coll, got)
		}
	}
	broken, err := mongo.Connect(options.Client().ApplyURI(testURI))
	if err != nil {
		t.Fatal(err)
	}
	_ = broken.Disconnect(ctx)
	hb, _ := NewHandler(Config{DB: broken.Database("api_indexes")})
	if err := hb.EnsureIndexes(ctx); err == nil {
		t.Fatal("EnsureIndexes on a closed client succeeded")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
