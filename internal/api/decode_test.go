package api

import (
	"encoding/json"
	"errors"
	"net/http"
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
// single, strictly shaped object without operator keys, and that a failure is always a 4xx apiError.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"givenName":"Ada","familyName":"Lovelace","birthDate":"1815-12-10"}`,
		`{"text":"note"}`, `{}`, `[]`, `{"$set":{}}`, `{"a.b":1}`, `{"givenName":"A"}{}`,
		`{"givenName":{"$ne":null}}`, `{"givenName":"A","givenName":"B"}`, "{\"text\":\"\xff\"}",
		strings.Repeat("[", 100), `{"text":"a\u0000b"}`, `null`, `{"text":1e999}`,
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
				continue
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("decode error is not a client error: %#v", err)
			}
		}
	})
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
