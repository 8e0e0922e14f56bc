package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type leaf struct {
	X string `json:"x"`
}

type base struct {
	Inner string `json:"inner"`
}

// Name is embedded untagged and not a struct: encoding/json names it by its type.
type Name string

// selfDecoded decodes itself: its keys are its own business.
type selfDecoded struct{ Raw map[string]any }

func (s *selfDecoded) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.Raw) }

type shape struct {
	Shadow leaf `json:"shadow"` // declared before the embedded struct that also names "shadow"
	base
	*Shadowing
	Name
	Leaf    leaf            `json:"leaf"`
	Items   []leaf          `json:"items"`
	Fixed   [2]leaf         `json:"fixed"`
	ByName  map[string]leaf `json:"byName"`
	Ptr     *leaf           `json:"ptr"`
	PtrPtr  **leaf          `json:"ptrPtr"`
	Ptrs    []*leaf         `json:"ptrs"`
	Any     any             `json:"any"`
	Free    map[string]any  `json:"free"`
	When    time.Time       `json:"when"`
	Self    selfDecoded     `json:"self"`
	Raw     json.RawMessage `json:"raw"`
	Number  float64         `json:"number"`
	Flag    bool            `json:"flag"`
	List    []string        `json:"list"`
	Untag   string
	Skipped string `json:"-"`
	Dash    string `json:"-,"`
	private string //nolint:unused // unexported: no JSON name
}

// Shadowing is embedded by pointer (exported: encoding/json cannot allocate an unexported one).
type Shadowing struct {
	Shadow string `json:"shadow"`
	Deep   string `json:"deep"`
}

func TestExactNamesAtEveryDepth(t *testing.T) {
	for _, body := range []string{
		`{"inner":"a"}`, `{"leaf":{"x":"a"}}`, `{"items":[{"x":"a"},{"x":"b"}]}`, `{"fixed":[{"x":"a"}]}`,
		`{"byName":{"Any Key":{"x":"a"},"other":{"x":"b"}}}`, `{"ptr":{"x":"a"}}`, `{"ptrPtr":{"x":"a"}}`,
		`{"ptrs":[{"x":"a"},null]}`, `{"Untag":"a"}`, `{"Name":"n"}`, `{"deep":"d"}`, `{"shadow":{"x":"a"}}`,
		`{"any":{"Whatever":{"X":1}}}`, `{"free":{"A":{"B":[{"C":1}]}}}`, `{"when":"2026-01-02T03:04:05Z"}`,
		`{"self":{"Any":{"Case":1}}}`, `{"raw":{"Any":[{"Key":1}]}}`, `{"-":"a"}`, `{"ptr":null}`,
		`{"leaf":{}}`, `{}`,
	} {
		var v shape
		if err := Decode([]byte(body), &v); err != nil {
			t.Errorf("%s refused: %v", body, err)
		}
	}
	for _, c := range []struct{ body, key, path string }{
		{`{"Inner":"a"}`, "Inner", ""},
		{`{"base":{"inner":"a"}}`, "base", ""},
		{`{"leaf":{"X":"a"}}`, "X", "leaf"},
		{`{"items":[{"x":"a"},{"X":"b"}]}`, "X", "items[1]"},
		{`{"fixed":[{"x":"a"},{"X":"b"}]}`, "X", "fixed[1]"},
		{`{"byName":{"k":{"X":"a"}}}`, "X", "byName.k"},
		{`{"ptr":{"X":"a"}}`, "X", "ptr"},
		{`{"ptrPtr":{"X":"a"}}`, "X", "ptrPtr"},
		{`{"ptrs":[{"X":"a"}]}`, "X", "ptrs[0]"},
		{`{"untag":"a"}`, "untag", ""},
		{`{"name":"n"}`, "name", ""},
		{`{"Deep":"d"}`, "Deep", ""},
		{`{"shadow":{"X":"a"}}`, "X", "shadow"}, // the outer field's type, not the embedded string
		{`{"Skipped":"a"}`, "Skipped", ""},
		{`{"private":"a"}`, "private", ""},
		{`{"leaf":{"x":"a","y":"b"}}`, "y", "leaf"},
	} {
		var v shape
		err := Decode([]byte(c.body), &v)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindUnknownField || e.Key != c.key || e.Path != c.path {
			t.Errorf("%s: want unknown field %q in %q, got %#v", c.body, c.key, c.path, err)
		}
	}
}

// TestFirstUnknownFieldIsNamed: with several unknown fields, the first is the one reported.
func TestFirstUnknownFieldIsNamed(t *testing.T) {
	err := Decode([]byte(`{"one":1,"inner":"a","two":2}`), &shape{})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnknownField || e.Key != "one" {
		t.Fatalf("want the first unknown field named, got %v", err)
	}
}

// TestStructuralFaultsComeBeforeUnknownFields: an unknown field is reported only when nothing
// structural is wrong anywhere in the document, so its value is checked like any other.
func TestStructuralFaultsComeBeforeUnknownFields(t *testing.T) {
	refuseDollar := Options{CheckKey: func(k string) error {
		if strings.HasPrefix(k, "$") {
			return errors.New("operator")
		}
		return nil
	}}
	for _, c := range []struct {
		body string
		want Kind
	}{
		{`{"unknown":{"a":1,"A":2}}`, KindDuplicateKey},
		{`{"unknown":1,"inner":"a","Inner":"b"}`, KindDuplicateKey},
		{`{"unknown":{"x":[{"$ne":1}]}}`, KindRefusedKey},
		{`{"unknown":1} x`, KindTrailingData},
		{`{"unknown":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, KindTooDeep},
	} {
		err := refuseDollar.Decode([]byte(c.body), &shape{})
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.want {
			t.Errorf("%s: want kind %d, got %v", c.body, c.want, err)
		}
	}
}

// TestDuplicatesRefusedWhateverTheirCase: keys that differ only in letter case (Unicode simple
// folding, the folding encoding/json matches with: K and the Kelvin sign, s and the long s) are
// duplicates at any depth, even where any key is allowed (a map).
func TestDuplicatesRefusedWhateverTheirCase(t *testing.T) {
	for _, c := range []struct{ body, key, path string }{
		{`{"a":1,"A":2}`, "A", ""}, {`{"k":1,"\u212a":2}`, "\u212a", ""}, {`{"s":1,"\u017f":2}`, "\u017f", ""},
		{`{"Straße":1,"STRAßE":2}`, "STRAßE", ""}, {`{"x":{"ab":1,"aB":2}}`, "aB", "x"},
		{`{"x":[{"q":1},{"q":1,"Q":2}]}`, "Q", "x[1]"}, {`{"a":1,"b":2,"A":3}`, "A", ""}, {`{"a":1,"a":1}`, "a", ""},
	} {
		var m map[string]any
		err := Decode([]byte(c.body), &m)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindDuplicateKey || e.Key != c.key || e.Path != c.path {
			t.Errorf("%s: want duplicate %q in %q, got %#v", c.body, c.key, c.path, err)
		}
	}
	for _, body := range []string{`{"a":1,"b":2}`, `{"x":{"a":1},"y":{"a":1}}`, `{"x":[{"a":1},{"a":2}]}`, `{"ß":1,"ss":2}`} {
		var m map[string]any
		if err := Decode([]byte(body), &m); err != nil {
			t.Errorf("%s refused: %v", body, err)
		}
	}
	// Into a struct: the exact name next to a case variant is a duplicate, whichever comes first.
	for _, body := range []string{`{"inner":"a","INNER":"b"}`, `{"INNER":"b","inner":"a"}`, `{"inner":"a","\u0069nner":"b"}`} {
		err := Decode([]byte(body), &shape{})
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindDuplicateKey {
			t.Errorf("%s: want a duplicate, got %v", body, err)
		}
	}
}

func TestNestingLimit(t *testing.T) {
	objects := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	arrays := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}" }
	for _, limit := range []int{0, 1, 2, 16} {
		o := Options{MaxDepth: limit}
		want := limit
		if limit == 0 {
			want = DefaultMaxDepth
		}
		for name, nest := range map[string]func(int) string{"objects": objects, "arrays": arrays} {
			var m map[string]any
			if want > 1 || name == "objects" {
				if err := o.Decode([]byte(nest(want)), &m); err != nil {
					t.Errorf("limit %d: %d levels of %s refused: %v", limit, want, name, err)
				}
			}
			err := o.Decode([]byte(nest(want+1)), &m)
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindTooDeep || e.Limit != want {
				t.Errorf("limit %d: %d levels of %s: want too deep, got %v", limit, want+1, name, err)
			}
		}
	}
}

func TestRefusedDocuments(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       Kind
	}{
		{"empty", ``, KindEmpty},
		{"white space", " \n\t", KindEmpty},
		{"invalid UTF-8", "{\"x\":\"\xff\"}", KindInvalidUTF8},
		{"array", `["a"]`, KindNotObject},
		{"string", `"x"`, KindNotObject},
		{"null", `null`, KindNotObject},
		{"number", `1`, KindNotObject},
		{"truncated", `{"inner":"a"`, KindSyntax},
		{"truncated key", `{"inner`, KindSyntax},
		{"truncated array", `{"list":["a"`, KindSyntax},
		{"missing value", `{"inner":}`, KindSyntax},
		{"bad array", `{"list":[1,}`, KindSyntax},
		{"garbage", `{x}`, KindSyntax},
		{"trailing object", `{"inner":"a"}{"inner":"b"}`, KindTrailingData},
		{"trailing garbage", `{"inner":"a"} x`, KindTrailingData},
		{"trailing brace", `{"inner":"a"}}`, KindTrailingData},
		{"bad time", `{"when":"yesterday"}`, KindShape},
		{"time as number", `{"when":1}`, KindShape},
	} {
		err := Decode([]byte(c.body), &shape{})
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.want {
			t.Errorf("%s: want kind %d, got %#v", c.name, c.want, err)
		}
	}
}

func TestTypeErrorsNameFieldAndType(t *testing.T) {
	for _, c := range []struct{ body, key, want string }{
		{`{"Untag":1}`, "Untag", "string"},
		{`{"leaf":"x"}`, "leaf", "object"},
		{`{"byName":[]}`, "byName", "object"},
		{`{"items":{}}`, "items", "array"},
		{`{"fixed":1}`, "fixed", "array"},
		{`{"flag":"yes"}`, "flag", "boolean"},
		{`{"number":"1"}`, "number", "number"},
		{`{"leaf":{"x":true}}`, "leaf.x", "string"},
		{`{"ptr":{"x":2}}`, "ptr.x", "string"},
	} {
		err := Decode([]byte(c.body), &shape{})
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindType || e.Key != c.key || e.Want != c.want {
			t.Errorf("%s: want %s must be a %s, got %#v", c.body, c.key, c.want, err)
			continue
		}
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Errorf("%s: the type error is not wrapped", c.body)
		}
	}
}

func TestCheckKeySeesEveryKey(t *testing.T) {
	var seen []string
	o := Options{CheckKey: func(k string) error { seen = append(seen, k); return nil }}
	var v shape
	if err := o.Decode([]byte(`{"leaf":{"x":"a"},"byName":{"m":{"x":"b"}},"items":[{"x":"c"}],"free":{"f":{"g":1}}}`), &v); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ","); got != "leaf,x,byName,m,x,items,x,free,f,g" {
		t.Fatalf("CheckKey saw %s", got)
	}
	refusal := errors.New("no dots")
	o = Options{CheckKey: func(k string) error {
		if strings.Contains(k, ".") {
			return refusal
		}
		return nil
	}}
	err := o.Decode([]byte(`{"free":{"ok":{"a.b":1}}}`), &v)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRefusedKey || e.Key != "a.b" || e.Path != "free.ok" || !errors.Is(err, refusal) {
		t.Fatalf("want the dotted key refused with CheckKey's error, got %#v", err)
	}
}

// TestAcceptedDocumentHoldsWhatItSays: the decoded value holds exactly the document's values.
func TestAcceptedDocumentHoldsWhatItSays(t *testing.T) {
	var v shape
	body := ` {"inner":"i","Name":"n","deep":"d","leaf":{"x":"l"},"items":[{"x":"1"},{"x":"2"}],"byName":{"K":{"x":"k"}},
		"ptrPtr":{"x":"pp"},"number":1.5,"flag":true,"list":["a","b"],"Untag":"u","-":"dash","when":"2026-01-02T03:04:05Z"} `
	if err := Decode([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %s %s %s %s %s %s %v %v %v %s %s %s", v.Inner, v.Name, v.Shadowing.Deep, v.Leaf.X, v.Items[0].X,
		v.Items[1].X, v.ByName["K"].X, (*v.PtrPtr).X, v.Number, v.Flag, v.List, v.Untag, v.Dash, v.When.Format(time.RFC3339))
	if want := "i n d l 1 2 k pp 1.5 true [a b] u dash 2026-01-02T03:04:05Z"; got != want {
		t.Fatalf("decoded %q, want %q", got, want)
	}
}

// TestMessagesNameTheFaultButNoValue: every message says what is wrong and where, and never echoes a
// value or more than 40 characters of a name.
func TestMessagesNameTheFaultButNoValue(t *testing.T) {
	long := strings.Repeat("k", 5000)
	for _, c := range []struct{ body, want string }{
		{``, "empty"},
		{"{\"x\":\"\xff\"}", "UTF-8"},
		{`{"inner":`, "not valid JSON"},
		{`[1]`, "not a JSON object"},
		{`{} {}`, "data after the JSON object"},
		{`{"leaf":{"x":"SECRET","X":"SECRET"}}`, `field "X" appears twice in leaf`},
		{`{"leaf":{"Y":"SECRET"}}`, `unknown field "Y" in leaf (field names match exactly`},
		{`{"Untag":12345}`, `field "Untag" must be a JSON string`},
		{`{"when":"SECRET"}`, "a value does not have the expected form"},
		{`{"` + long + `":"SECRET"}`, `unknown field "` + strings.Repeat("k", 40) + `…"`},
		{strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "deeper than 32 levels"},
	} {
		var v shape
		err := Decode([]byte(c.body), &v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40s: message %v, want it to contain %q", c.body, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "12345") || strings.Contains(err.Error(), "SECRET") || len(err.Error()) > 300 {
			t.Errorf("%.40s: message echoes the input: %v", c.body, err)
		}
	}
	refused := (&Error{Kind: KindRefusedKey, Key: "$where", Err: errors.New("operators are refused")}).Error()
	if refused != `field name "$where" is refused: operators are refused` {
		t.Errorf("refused key: %s", refused)
	}
}

func TestQuoteCutsAfterForty(t *testing.T) {
	forty := strings.Repeat("é", 40)
	if got := Quote(forty); got != `"`+forty+`"` {
		t.Fatalf("40 characters: %s", got)
	}
	if got := Quote(forty + "x"); got != `"`+forty+`…"` {
		t.Fatalf("41 characters: %s", got)
	}
}

var reflectTypeOfShape = reflect.TypeFor[shape]()

// FuzzDecode: decoding never panics; whatever it accepts is one object whose keys are, at every
// depth, unique whatever their case, and at the top exactly field names of the type.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"inner":"a"}`, `{"leaf":{"x":"a"}}`, `{}`, `[]`, `{"inner":"a"}{}`, `{"inner":"a","INNER":"b"}`,
		`{"Inner":"a"}`, `{"\u0069nner":"a"}`, `{"byName":{"k":{"x":"a","X":"b"}}}`, "{\"inner\":\"\xff\"}",
		strings.Repeat("[", 100), `null`, `{"number":1e999}`, `{"shadow":{"x":"a"}}`, "{\"\u017fhadow\":1}",
	} {
		f.Add([]byte(s))
	}
	names := jsonFields(reflectTypeOfShape)
	f.Fuzz(func(t *testing.T, body []byte) {
		var v shape
		err := Decode(body, &v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Error() == "" {
				t.Fatalf("error is not an *Error: %#v", err)
			}
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("accepted a document that is not an object: %q", body)
		}
		folded := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k := tok.(string)
			if _, ok := names[k]; !ok {
				t.Fatalf("accepted key %q, not exactly a field name: %q", k, body)
			}
			if folded[Fold(k)] {
				t.Fatalf("accepted key %q twice (in some case): %q", k, body)
			}
			folded[Fold(k)] = true
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
	})
}
