package main

import (
	"encoding/json"
	"os"
	"testing"
)

// cdkJSONContext reads the "context" of the repository's cdk.json.
func cdkJSONContext(t *testing.T) map[string]interface{} {
	t.Helper()
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return file.Context
}

func toJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
