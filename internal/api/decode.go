package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting, so a deeply nested body cannot exhaust the stack or CPU.
const maxJSONDepth = 16

// DecodeStrict decodes body into v, refusing anything but one JSON object of v's shape: invalid
// UTF-8, duplicate keys (keys that differ only in letter case are duplicates), keys that start with
// '$' or contain '.' (at any depth; they are MongoDB operators and paths), nesting deeper than 16,
// field names that are not exactly v's (encoding/json alone would match "GIVENNAME" to
// "givenName"), wrong types and trailing data. The error is an *apiError with a 4xx status and a
// message safe to return.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid UTF-8")
	}
	if err := scanKeys(body); err != nil {
		return err
	}
	if err := exactNames(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body has data after the JSON object; send exactly one object")
	}
	return nil
}

// scanKeys walks the token stream once, checking every object key and the nesting depth, before any
// typed decoding happens.
func scanKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object  bool
		keyNext bool
		seen    map[string]bool
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) != 0 {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON: unexpected end")
			}
			return nil
		}
		if err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON; check the syntax")
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body must be a JSON object")
			}
			first = false
		} else if len(stack) == 0 {
			return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body has data after the JSON object; send exactly one object")
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.keyNext {
			// In an object, a token in key position is a key (or the closing brace).
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].keyNext = true
				}
				continue
			}
			key, _ := tok.(string)
			if strings.HasPrefix(key, "$") || strings.Contains(key, ".") {
				return errorf(http.StatusBadRequest, CodeForbiddenKey, "field names may not start with '$' or contain '.' (found %s)", quoteShort(key))
			}
			if top.seen[foldKey(key)] {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "field %s appears twice (field names that differ only in letter case are the same field); send each field once", quoteShort(key))
			}
			top.seen[foldKey(key)] = true
			top.keyNext = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body nests deeper than %d levels", maxJSONDepth)
			}
			stack = append(stack, &frame{object: d == '{', keyNext: d == '{', seen: map[string]bool{}})
			continue
		case ']':
			stack = stack[:len(stack)-1]
		}
		// A value (or a closed array) completed: the enclosing object expects a key next. The stack
		// is never empty here: the body is an object, and the decoder refuses an unmatched ']'.
		if stack[len(stack)-1].object {
			stack[len(stack)-1].keyNext = true
		}
	}
}

// foldKey is the form in which encoding/json compares a key with a field name (each rune lowered,
// then uppered: "K", "k" and the Kelvin sign, "S", "s" and the long s all fold alike). Keys with the
// same fold are duplicates whatever their case.
func foldKey(key string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, key)
}

// exactNames refuses any object key that is not exactly a JSON field name of the struct it decodes
// into, at any depth: encoding/json matches names case-insensitively, so without this "GivenName"
// would fill givenName. Keys of maps and interface values are free (scanKeys checked them).
func exactNames(body []byte, t reflect.Type) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return decodeError(err)
	}
	return checkNames(doc, t)
}

func checkNames(v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for k, e := range x {
				ft, ok := fields[k]
				if !ok {
					return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %s (field names match exactly, in their letter case); see docs/api.md for the accepted fields", quoteShort(k))
				}
				if err := checkNames(e, ft); err != nil {
					return err
				}
			}
		case reflect.Map:
			for _, e := range x {
				if err := checkNames(e, t.Elem()); err != nil {
					return err
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for _, e := range x {
				if err := checkNames(e, t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields (as encoding/json names them: the tag's name,
// else the Go name; "-" and unexported fields have none; untagged embedded structs lend theirs) to
// their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
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

// decodeError turns encoding/json errors into client messages that name the field but echo no value.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "field %s must be a JSON %s", quoteShort(typeErr.Field), jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON; check the syntax")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %s; see docs/api.md for the accepted fields", quoteShort(strings.Trim(name, `"`)))
	default:
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body does not have the expected shape; see docs/api.md")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

// quoteShort quotes a client-supplied name for a message, cut to 40 characters so the response never
// echoes much of the input.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
