// Package strictjson decodes JSON that must be exactly what its writer wrote: API request bodies,
// region and environment files, failover plans, event payloads the platform acts on. encoding/json
// alone matches object keys to field names in any letter case and, across case variants, keeps the
// last one: {"Region":"x"} fills region, {"to":"a","TO":"b"} reads "b". Here a key fills a field only
// when it is exactly the field's JSON name, a key never appears twice in one object (keys that differ
// only in letter case count as the same key), and unknown fields are refused, at every depth.
//
// It depends on the standard library only, so that every layer (the CDK app's regions, the Lambda
// handlers, the CLI) can use the same one.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit of Decode: objects and arrays, the top object counting one.
const DefaultMaxDepth = 32

// Kind says what was wrong with a document.
type Kind int

// Kinds of Error.
const (
	// KindEmpty: no data, or only white space.
	KindEmpty Kind = iota + 1
	// KindInvalidUTF8: the data is not valid UTF-8 (encoding/json would silently replace it).
	KindInvalidUTF8
	// KindSyntax: the data is not valid JSON.
	KindSyntax
	// KindNotObject: the top-level value is not a JSON object.
	KindNotObject
	// KindTrailingData: something follows the object.
	KindTrailingData
	// KindTooDeep: objects and arrays nest deeper than the limit.
	KindTooDeep
	// KindDuplicateKey: an object has a key twice, in the same or in another letter case.
	KindDuplicateKey
	// KindUnknownField: a key is not exactly one of the JSON names of the struct it decodes into.
	KindUnknownField
	// KindRefusedKey: the Options' CheckKey refused a key.
	KindRefusedKey
	// KindType: a value has the wrong JSON type for its field.
	KindType
	// KindShape: any other decoding failure (a field's own UnmarshalJSON refused its value).
	KindShape
)

// Error is why a document was refused. Its message names the key or field at fault (cut to 40
// characters) but never a value, so it is safe to show to whoever sent the document.
type Error struct {
	Kind Kind
	// Path locates the object holding the fault ("" for the top object, "steps[2]", "atlas").
	Path string
	// Key is the key at fault (KindDuplicateKey, KindUnknownField, KindRefusedKey) or the field
	// whose value has the wrong type (KindType).
	Key string
	// Want is the JSON type the field needs (KindType): string, number, boolean, object or array.
	Want string
	// Limit is the nesting limit (KindTooDeep).
	Limit int
	// Err is the underlying error, if any (encoding/json's, or CheckKey's).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	where := ""
	if e.Path != "" {
		where = " in " + e.Path
	}
	switch e.Kind {
	case KindEmpty:
		return "no JSON object: the data is empty"
	case KindInvalidUTF8:
		return "the data is not valid UTF-8"
	case KindSyntax:
		return "not valid JSON; check the syntax"
	case KindNotObject:
		return "not a JSON object"
	case KindTrailingData:
		return "data after the JSON object; give exactly one object"
	case KindTooDeep:
		return fmt.Sprintf("objects and arrays nest deeper than %d levels", e.Limit)
	case KindDuplicateKey:
		return fmt.Sprintf("field %s appears twice%s (field names that differ only in letter case are the same field); give each field once", Quote(e.Key), where)
	case KindUnknownField:
		return fmt.Sprintf("unknown field %s%s (field names match exactly, in their letter case)", Quote(e.Key), where)
	case KindRefusedKey:
		return fmt.Sprintf("field name %s%s is refused: %v", Quote(e.Key), where, e.Err)
	case KindType:
		return fmt.Sprintf("field %s must be a JSON %s", Quote(e.Key), e.Want)
	default:
		// The cause (Unwrap) may quote the value; the message does not.
		return "a value does not have the expected form (for example a time that is not RFC 3339)"
	}
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Options adjust Decode. The zero value is Decode's behaviour.
type Options struct {
	// MaxDepth bounds the nesting of objects and arrays (the top object is depth 1); 0 means
	// DefaultMaxDepth.
	MaxDepth int
	// CheckKey, when set, is called with every object key at every depth (map keys included); an
	// error refuses the document (KindRefusedKey, wrapping it).
	CheckKey func(key string) error
}

// Decode decodes data, which must be exactly one JSON object, into v (a non-nil pointer) strictly:
// see the package documentation. The error is an *Error.
func Decode(data []byte, v any) error { return Options{}.Decode(data, v) }

// Decode is the package's Decode with these options.
func (o Options) Decode(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Kind: KindEmpty}
	}
	if !utf8.Valid(data) {
		return &Error{Kind: KindInvalidUTF8}
	}
	limit := o.MaxDepth
	if limit <= 0 {
		limit = DefaultMaxDepth
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(data)), opts: o, limit: limit}
	w.dec.UseNumber()
	if err := w.document(reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// walker reads the document's tokens once, before any typed decoding, checking every key and the
// nesting against the type each value decodes into.
type walker struct {
	dec   *json.Decoder
	opts  Options
	limit int
	// unknown is the first unknown field met; it is reported only when nothing structural (syntax,
	// nesting, duplicates, refused keys, trailing data) is wrong anywhere in the document.
	unknown *Error
}

func (w *walker) document(t reflect.Type) error {
	tok, err := w.dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if tok != json.Delim('{') {
		return &Error{Kind: KindNotObject}
	}
	if err := w.object(t, "", 1); err != nil {
		return err
	}
	if _, err := w.dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Kind: KindTrailingData}
	}
	if w.unknown != nil {
		return w.unknown
	}
	return nil
}

// value reads one value whose first token is tok; t is the Go type it decodes into, nil where any
// key is allowed (an interface, an unknown field, a type with its own decoder, a type mismatch).
func (w *walker) value(tok json.Token, t reflect.Type, path string, depth int) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth+1 > w.limit {
		return &Error{Kind: KindTooDeep, Limit: w.limit}
	}
	if d == '{' {
		return w.object(t, path, depth+1)
	}
	return w.array(elem(t, reflect.Slice, reflect.Array), path, depth+1)
}

// object reads an object's keys and values up to its closing brace (the opening one is read).
func (w *walker) object(t reflect.Type, path string, depth int) error {
	t = deref(t)
	var fields map[string]reflect.Type
	var mapElem reflect.Type
	switch {
	case t == nil || ownDecoder(t):
		t = nil
	case t.Kind() == reflect.Struct:
		fields = jsonFields(t)
	case t.Kind() == reflect.Map:
		mapElem = t.Elem()
	default:
		t = nil // a type mismatch: the typed decode reports it
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		key, _ := tok.(string)
		if w.opts.CheckKey != nil {
			if err := w.opts.CheckKey(key); err != nil {
				return &Error{Kind: KindRefusedKey, Path: path, Key: key, Err: err}
			}
		}
		folded := Fold(key)
		if seen[folded] {
			return &Error{Kind: KindDuplicateKey, Path: path, Key: key}
		}
		seen[folded] = true
		var ft reflect.Type
		switch {
		case fields != nil:
			var known bool
			if ft, known = fields[key]; !known && w.unknown == nil {
				w.unknown = &Error{Kind: KindUnknownField, Path: path, Key: key}
			}
		case mapElem != nil:
			ft = mapElem
		}
		vtok, err := w.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		if err := w.value(vtok, ft, join(path, key), depth); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // the closing brace
	return syntaxError(err)
}

// array reads an array's elements up to its closing bracket (the opening one is read).
func (w *walker) array(t reflect.Type, path string, depth int) error {
	for i := 0; w.dec.More(); i++ {
		tok, err := w.dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		if err := w.value(tok, t, fmt.Sprintf("%s[%d]", path, i), depth); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // the closing bracket
	return syntaxError(err)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// ownDecoder reports whether t decodes itself (time.Time, json.RawMessage's owners...): its keys
// are its own business, not names of its Go fields.
func ownDecoder(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// elem is t's element type when t is one of kinds (after pointers), else nil.
func elem(t reflect.Type, kinds ...reflect.Kind) reflect.Type {
	t = deref(t)
	if t == nil || ownDecoder(t) {
		return nil
	}
	for _, k := range kinds {
		if t.Kind() == k {
			return t.Elem()
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Fold is the form in which encoding/json compares a key with a field name (each rune lowered, then
// uppered: "K", "k" and the Kelvin sign, "S", "s" and the long s all fold alike). Keys with the same
// fold are duplicates whatever their case.
func Fold(key string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, key)
}

// jsonFields maps the JSON names of a struct's fields (as encoding/json names them: the tag's name,
// else the Go name; a tag of exactly "-" and unexported fields have none, "-," names "-"; untagged
// embedded structs lend theirs) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct {
				for n, et := range jsonFields(ft) {
					if _, shadowed := out[n]; !shadowed {
						out[n] = et
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// syntaxError turns a token error into KindSyntax (nil stays nil).
func syntaxError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindSyntax, Err: err}
}

// decodeError turns the typed decode's error into an *Error that names the field, not the value.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &Error{Kind: KindType, Key: typeErr.Field, Want: jsonKind(typeErr.Type), Err: err}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Kind: KindSyntax, Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// A name two embedded structs both give: encoding/json fills neither.
		return &Error{Kind: KindUnknownField, Key: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Err: err}
	default:
		return &Error{Kind: KindShape, Err: err}
	}
}

// jsonKind names the JSON type a Go type is written as.
func jsonKind(t reflect.Type) string {
	switch deref(t).Kind() {
	case reflect.String:
		return "string"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	default:
		return "number"
	}
}

// Quote quotes a name for a message, cut to 40 characters so a message never echoes much of the
// input.
func Quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
