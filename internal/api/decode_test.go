package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeStrict(t *testing.T) {
	cases := []struct {
		name, body, code string
	}{
		{"valid", `{"givenName":"Ada","familyName":"Lovelace","birthDate":"1815-12-10"}`, ""},
		{"valid with whitespace", " \n{\"givenName\":\"A\"}\n ", ""},
		{"empty", ``, CodeInvalidJSON},
		{"not an object", `["a"]`, CodeInvalidJSON},
		{"string", `"x"`, CodeInvalidJSON},
		{"unknown field", `{"givenName":"A","admin":true}`, CodeUnknownField},
		{"dollar key", `{"$where":"1"}`, CodeForbiddenKey},
		{"dotted key", `{"a.b":1}`, CodeForbiddenKey},
		{"nested dollar key", `{"givenName":"A","x":{"y":[{"$ne":1}]}}`, CodeForbiddenKey},
		{"nested dotted key", `{"x":[[{"ok":{"a.b":1}}]]}`, CodeForbiddenKey},
		{"duplicate key", `{"givenName":"A","givenName":"B"}`, CodeInvalidJSON},
		{"trailing object", `{"givenName":"A"}{"givenName":"B"}`, CodeInvalidJSON},
		{"trailing garbage", `{"givenName":"A"} x`, CodeInvalidJSON},
		{"wrong type", `{"givenName":1}`, CodeInvalidJSON},
		{"object as string", `{"givenName":{"$gt":""}}`, CodeForbiddenKey},
		{"truncated", `{"givenName":"A"`, CodeInvalidJSON},
		{"invalid utf8", "{\"givenName\":\"\xff\"}", CodeInvalidJSON},
		{"too deep", strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20), CodeInvalidJSON},
		// Field names match exactly (issue 17 item 2): encoding/json alone matches them in any case.
		{"upper-case duplicate", `{"givenName":"A","GIVENNAME":"B","familyName":"L","birthDate":"1990-01-01"}`, CodeInvalidJSON},
		{"duplicate, case first", `{"GIVENNAME":"B","givenName":"A"}`, CodeInvalidJSON},
		{"escaped duplicate", `{"givenName":"A","\u0067ivenName":"B"}`, CodeInvalidJSON},
		{"capitalised name", `{"GivenName":"A","familyName":"L","birthDate":"1990-01-01"}`, CodeUnknownField},
		{"lower-case name", `{"givenname":"A"}`, CodeUnknownField},
		{"upper-case name", `{"BIRTHDATE":"1990-01-01"}`, CodeUnknownField},
		{"kelvin sign is not k", `{"givenName":"A","familyName":"L","birthDate":"1990-01-01","\u212a":1}`, CodeUnknownField},
		{"escaped exact name", `{"\u0067ivenName":"A"}`, ""},
	}
	for _, c := range cases {
		var in PatientInput
		err := DecodeStrict([]byte(c.body), &in)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var ae *apiError
		if !errors.As(err, &ae) || ae.Code != c.code || ae.Status != http.StatusBadRequest {
			t.Errorf("%s: want %s, got %v", c.name, c.code, err)
		}
	}
}

func TestDecodeMessagesEchoLittle(t *testing.T) {
	long := strings.Repeat("x", 5000)
	err := DecodeStrict([]byte(`{"`+long+`":1}`), &PatientInput{})
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("message echoes the input: %d bytes", len(err.Error()))
	}
}

func TestValidatePatient(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	ok := PatientInput{GivenName: "Ada", FamilyName: "Lovelace", BirthDate: "1990-02-03"}
	if err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]PatientInput{
		"no given name": {FamilyName: "L", BirthDate: "1990-02-03"},
		"blank name":    {GivenName: "  ", FamilyName: "L", BirthDate: "1990-02-03"},
		"long name":     {GivenName: strings.Repeat("a", 101), FamilyName: "L", BirthDate: "1990-02-03"},
		"control char":  {GivenName: "A\x00", FamilyName: "L", BirthDate: "1990-02-03"},
		"bad date":      {GivenName: "A", FamilyName: "L", BirthDate: "1990-13-03"},
		"date format":   {GivenName: "A", FamilyName: "L", BirthDate: "3-2-1990"},
		"future date":   {GivenName: "A", FamilyName: "L", BirthDate: "2027-01-01"},
		"ancient date":  {GivenName: "A", FamilyName: "L", BirthDate: "1850-01-01"},
		"no birth date": {GivenName: "A", FamilyName: "L"},
	} {
		if err := in.Validate(now); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if err := (NoteInput{Text: "line 1\nline 2\ttab"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]NoteInput{"empty": {}, "long": {Text: strings.Repeat("é", 10001)}, "bell": {Text: "a\x07"}} {
		if err := in.Validate(); err == nil {
			t.Errorf("note %s accepted", name)
		}
	}
}

func TestIDs(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || !ValidID(a) || !ValidID(b) {
		t.Fatalf("%q %q", a, b)
	}
	for _, bad := range []string{"", "x", strings.ToUpper(a), a + "0", a[:31] + "g", "../" + a[3:], `{"$ne":null}`} {
		if ValidID(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}

// FuzzDecodeRequest checks that request decoding never panics, that whatever it accepts is a
// single, strictly shaped object without operator keys, whose every key is exactly a field name of
// the type and appears once (in any case), and that a failure is always a 4xx apiError.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"givenName":"Ada","familyName":"Lovelace","birthDate":"1815-12-10"}`,
		`{"text":"note"}`, `{}`, `[]`, `{"$set":{}}`, `{"a.b":1}`, `{"givenName":"A"}{}`,
		`{"givenName":{"$ne":null}}`, `{"givenName":"A","givenName":"B"}`, "{\"text\":\"\xff\"}",
		strings.Repeat("[", 100), `{"text":"a\u0000b"}`, `null`, `{"text":1e999}`,
		// Letter case and escapes of field names (issue 17 item 2).
		`{"givenName":"A","GIVENNAME":"B"}`, `{"GivenName":"A","familyName":"L","birthDate":"1990-01-01"}`,
		`{"TEXT":"x"}`, `{"text":"x","Text":"y"}`, `{"\u0074ext":"x"}`, `{"text":"x","\u0074ext":"y"}`,
		`{"te\u212at":"x"}`, `{"givenName":"A","familyName":"L","birthDate":"1990-01-01","BirthDate":"2000-01-01"}`,
		"{\"text\":\"x\",\"te\u017ft\":1}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&PatientInput{}, &NoteInput{}} {
			err := DecodeStrict(body, v)
			if err == nil {
				// Accepted: exactly one JSON object whose keys (at any depth) are never operators or paths.
				var generic map[string]any
				if err := json.Unmarshal(body, &generic); err != nil {
					t.Fatalf("accepted body is not one JSON object: %v", err)
				}
				if !safeKeys(generic) {
					t.Fatalf("accepted body has an operator or dotted key: %q", body)
				}
				names := map[string]bool{}
				for _, n := range jsonNames(t, v) {
					names[n] = true
				}
				folded := map[string]bool{}
				for _, k := range topKeys(t, body) {
					if !names[k] {
						t.Fatalf("accepted key %q is not exactly a field of %T: %q", k, v, body)
					}
					if folded[strings.ToLower(k)] {
						t.Fatalf("accepted key %q twice (in some case): %q", k, body)
					}
					folded[strings.ToLower(k)] = true
				}
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("decode error is not a client error: %#v", err)
			}
		}
	})
}

// topKeys lists the keys of a JSON object's top level in order, duplicates included.
func topKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func safeKeys(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.HasPrefix(k, "$") || strings.Contains(k, ".") || !safeKeys(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !safeKeys(e) {
				return false
			}
		}
	}
	return true
}

// TestFieldNamesMatchExactly: every request type refuses its own field names in another letter
// case, alone (unknown field) or next to the exact name (duplicate), so a body can never set a field
// twice or through a name docs/api.md does not give.
func TestFieldNamesMatchExactly(t *testing.T) {
	for _, target := range []any{&PatientInput{}, &NoteInput{}} {
		for _, name := range jsonNames(t, target) {
			for _, variant := range []string{strings.ToUpper(name), strings.ToLower(name),
				strings.ToUpper(name[:1]) + name[1:], name + " ", " " + name} {
				if variant == name {
					continue
				}
				expectCode(t, `{"`+variant+`":"x"}`, target, CodeUnknownField)
				expectCode(t, `{"`+name+`":"x","`+variant+`":"y"}`, target, CodeUnknownField, CodeInvalidJSON)
				expectCode(t, `{"`+variant+`":"y","`+name+`":"x"}`, target, CodeUnknownField, CodeInvalidJSON)
			}
		}
	}
}

// TestDuplicatesRefusedWhateverTheirCase: keys that differ only in letter case (Unicode simple
// folding, the folding encoding/json matches with: K and the Kelvin sign, s and the long s) are
// duplicates at any depth, even where any key is allowed (a map).
func TestDuplicatesRefusedWhateverTheirCase(t *testing.T) {
	for _, body := range []string{
		`{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `{"s":1,"\u017f":2}`, `{"Straße":1,"STRAßE":2}`,
		`{"x":{"ab":1,"aB":2}}`, `{"x":[{"q":1},{"q":1,"Q":2}]}`, `{"a":1,"b":2,"A":3}`,
	} {
		expectCode(t, body, &map[string]any{}, CodeInvalidJSON)
	}
	for _, body := range []string{`{"a":1,"b":2}`, `{"x":{"a":1},"y":{"a":1}}`, `{"x":[{"a":1},{"a":2}]}`, `{"ß":1,"ss":2}`} {
		var m map[string]any
		if err := DecodeStrict([]byte(body), &m); err != nil {
			t.Errorf("%s refused: %v", body, err)
		}
	}
}

// TestAcceptedBodyStoresWhatItSays: the decoded input holds exactly the values the body gave.
func TestAcceptedBodyStoresWhatItSays(t *testing.T) {
	var in PatientInput
	if err := DecodeStrict([]byte(`{"givenName":"A","familyName":"L","birthDate":"1990-01-01"}`), &in); err != nil {
		t.Fatal(err)
	}
	if in != (PatientInput{GivenName: "A", FamilyName: "L", BirthDate: "1990-01-01"}) {
		t.Fatalf("%+v", in)
	}
}

func expectCode(t *testing.T, body string, target any, codes ...string) {
	t.Helper()
	err := DecodeStrict([]byte(body), target)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		for _, c := range codes {
			if ae.Code == c {
				return
			}
		}
	}
	t.Errorf("%s into %T: want %v, got %v", body, target, codes, err)
}

// jsonNames lists the JSON field names of a request type from its tags.
func jsonNames(t *testing.T, v any) []string {
	t.Helper()
	rt := reflect.TypeOf(v).Elem()
	var names []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" {
			t.Fatalf("%s.%s has no json name", rt.Name(), rt.Field(i).Name)
		}
		names = append(names, name)
	}
	return names
}
