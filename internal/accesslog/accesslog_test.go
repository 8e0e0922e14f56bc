package accesslog

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestFormatAndRecordHaveTheSameFields(t *testing.T) {
	var m map[string]string
	if err := json.Unmarshal([]byte(Format), &m); err != nil {
		t.Fatalf("Format is not one JSON object: %v", err)
	}
	var inFormat, inRecord []string
	for k, v := range m {
		if !strings.HasPrefix(v, "$context.") || strings.Count(v, "$") != 1 {
			t.Errorf("field %q = %q, want exactly one $context variable", k, v)
		}
		inFormat = append(inFormat, k)
	}
	rt := reflect.TypeOf(Record{})
	for i := 0; i < rt.NumField(); i++ {
		inRecord = append(inRecord, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(inFormat)
	sort.Strings(inRecord)
	if strings.Join(inFormat, ",") != strings.Join(inRecord, ",") {
		t.Fatalf("Format fields %v != Record fields %v", inFormat, inRecord)
	}
	if strings.ContainsAny(Format, "\n\t") {
		t.Fatal("Format must be one line: API Gateway writes one log event per request")
	}
}
