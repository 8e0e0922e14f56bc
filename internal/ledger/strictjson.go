package ledger

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// decodeStrictJSON decodes raw into v (a pointer to a struct) accepting only the exact form this
// package writes: every object key must be one of its struct's JSON names in the same letter case
// (encoding/json alone matches keys in any case and, across case variants, keeps the last), no
// key may appear twice, no unknown key, and nothing may follow the value. Checkpoints, proofs and
// verification records are authenticated by their signed encoding, not by their bytes, so a
// second spelling of the same object must be refused rather than read as the original.
func decodeStrictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := checkJSONKeys(dec, reflect.TypeOf(v), ""); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
)

// checkJSONKeys reads one JSON value from dec, checking the keys of its objects against t.
func checkJSONKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	opaque := t == timeType || reflect.PointerTo(t).Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		(t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8)
	if opaque || (t.Kind() != reflect.Struct && t.Kind() != reflect.Slice) {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // null
		return nil
	}
	if t.Kind() == reflect.Slice {
		if tok != json.Delim('[') {
			return fmt.Errorf("%s: want an array", orTop(path))
		}
		for i := 0; dec.More(); i++ {
			if err := checkJSONKeys(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%s: want an object", orTop(path))
	}
	fields := jsonFields(t)
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		ft, ok := fields[key]
		switch {
		case !ok:
			return fmt.Errorf("%s: unknown field %q (field names are exact, in their letter case)", orTop(path), key)
		case seen[key]:
			return fmt.Errorf("%s: field %q appears twice", orTop(path), key)
		}
		seen[key] = true
		if err := checkJSONKeys(dec, ft, path+"."+key); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func orTop(path string) string {
	if path == "" {
		return "the object"
	}
	return strings.TrimPrefix(path, ".")
}

// jsonFields are the JSON names of t's exported fields with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
