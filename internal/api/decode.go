package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/carohealth/platform/internal/strictjson"
)

// maxJSONDepth bounds nesting, so a deeply nested body cannot exhaust the stack or CPU.
const maxJSONDepth = 16

// requestJSON is how request bodies are decoded: strictjson's rules (field names exactly v's at
// every depth, keys that differ only in letter case are duplicates, no unknown field, one object,
// valid UTF-8), nesting at most 16 deep, and no key that MongoDB would read as an operator or a path.
var requestJSON = strictjson.Options{MaxDepth: maxJSONDepth, CheckKey: operatorKey}

// errOperatorKey is why a key starting with '$' or holding '.' is refused.
var errOperatorKey = errors.New("field names may not start with '$' or contain '.'")

func operatorKey(key string) error {
	if strings.HasPrefix(key, "$") || strings.Contains(key, ".") {
		return errOperatorKey
	}
	return nil
}

// DecodeStrict decodes body into v, refusing anything but one JSON object of v's shape: invalid
// UTF-8, duplicate keys (keys that differ only in letter case are duplicates), keys that start with
// '$' or contain '.' (at any depth; they are MongoDB operators and paths), nesting deeper than 16,
// field names that are not exactly v's (encoding/json alone would match "GIVENNAME" to
// "givenName"), wrong types and trailing data. The error is an *apiError with a 4xx status and a
// message safe to return.
func DecodeStrict(body []byte, v any) error {
	err := requestJSON.Decode(body, v)
	if err == nil {
		return nil
	}
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, "the request body does not have the expected shape; see docs/api.md")
	}
	return requestError(e)
}

// requestError words a refusal for the client: what was wrong and where, never a value.
func requestError(e *strictjson.Error) *apiError {
	bad := func(format string, args ...any) *apiError {
		return errorf(http.StatusBadRequest, CodeInvalidJSON, format, args...)
	}
	switch e.Kind {
	case strictjson.KindEmpty:
		return bad("the request body is empty; send a JSON object")
	case strictjson.KindInvalidUTF8:
		return bad("the request body is not valid UTF-8")
	case strictjson.KindSyntax:
		return bad("the request body is not valid JSON; check the syntax")
	case strictjson.KindNotObject:
		return bad("the request body must be a JSON object")
	case strictjson.KindTrailingData:
		return bad("the request body has data after the JSON object; send exactly one object")
	case strictjson.KindTooDeep:
		return bad("the request body nests deeper than %d levels", e.Limit)
	case strictjson.KindDuplicateKey:
		return bad("field %s appears twice (field names that differ only in letter case are the same field); send each field once", strictjson.Quote(e.Key))
	case strictjson.KindRefusedKey:
		return errorf(http.StatusBadRequest, CodeForbiddenKey, "field names may not start with '$' or contain '.' (found %s)", strictjson.Quote(e.Key))
	case strictjson.KindUnknownField:
		return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %s (field names match exactly, in their letter case); see docs/api.md for the accepted fields", strictjson.Quote(e.Key))
	case strictjson.KindType:
		return bad("field %s must be a JSON %s", strictjson.Quote(e.Key), e.Want)
	default:
		return bad("the request body does not have the expected shape; see docs/api.md")
	}
}
