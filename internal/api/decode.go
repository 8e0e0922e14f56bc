package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting, so a deeply nested body cannot exhaust the stack or CPU.
const maxJSONDepth = 16

// DecodeStrict decodes body into v, refusing anything but one JSON object of v's shape: invalid
// UTF-8, duplicate keys, keys that start with '$' or contain '.' (at any depth; they are MongoDB
// operators and paths), nesting deeper than 16, unknown fields, wrong types and trailing data. The
// error is an *apiError with a 4xx status and a message safe to return.
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
			if top.seen[key] {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "field %s appears twice; send each field once", quoteShort(key))
			}
			top.seen[key] = true
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
		// A value (or a closed array) completed: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].keyNext = true
		}
	}
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
