package regions

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestDefaultEnvironment(t *testing.T) {
	// GIVEN the committed environment file WHEN loaded THEN it is valid and names the Atlas secret.
	e, err := DefaultEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	if e.Name == "" || e.AtlasCredentialsSecret != DefaultAtlasCredentialsSecret {
		t.Fatalf("environment = %+v", e)
	}
}

func TestEnvironmentFileIsNotARegion(t *testing.T) {
	// GIVEN a folder with a region and the environment file WHEN the regions are loaded THEN the
	// environment file is not read as a region definition.
	fsys := fstest.MapFS{"eu-west-1.json": {Data: []byte(good)}, EnvironmentFile: {Data: []byte(`{"name":"x"}`)}}
	set, err := LoadFS(fsys, ".")
	if err != nil || len(set.All()) != 1 {
		t.Fatalf("LoadFS = %+v, %v", set.All(), err)
	}
}

func TestBadEnvironmentFiles(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"unknown field", `{"name":"p","acount":"123456789012"}`, `unknown field "acount"`},
		{"no name", `{"account":"123456789012"}`, `field "name" is missing`},
		{"short account", `{"name":"p","account":"12345"}`, "not an AWS account ID"},
		{"unknown region", `{"name":"p","ledgerPublicKeys":{"eu-west-9":""}}`, `"eu-west-9", which is not an AWS region`},
		{"bad key", `{"name":"p","ledgerPublicKeys":{"eu-west-1":"arn:aws:kms:eu-west-1:1:key/a=notbase64"}}`, `ledgerPublicKeys.eu-west-1`},
		{"trailing data", `{"name":"p"} {}`, "data after the JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseEnvironment("environment.json", []byte(c.raw))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "environment.json") {
				t.Fatalf("err = %v, want it to name the file and contain %q", err, c.want)
			}
		})
	}
	if _, err := LoadEnvironmentFS(fstest.MapFS{}, "."); err == nil || !strings.Contains(err.Error(), "environment file") {
		t.Fatalf("missing file: err = %v", err)
	}
}
