package regions

import (
	"strings"
	"testing"
)

// TestDefinitionFieldNamesMatchExactly: a region definition's field names match exactly, at every
// depth, and a field given twice in any letter case is refused (encoding/json alone read
// "Region" as region and kept the last of "region" and "REGION").
func TestDefinitionFieldNamesMatchExactly(t *testing.T) {
	for name, c := range map[string]struct{ raw, want string }{
		"capitalised":           {strings.Replace(good, `"region"`, `"Region"`, 1), `unknown field "Region"`},
		"upper-case duplicate":  {strings.Replace(good, `"primary":true`, `"primary":true,"PRIMARY":false`, 1), `"PRIMARY" appears twice`},
		"nested capitalised":    {strings.Replace(good, `"projectId"`, `"ProjectId"`, 1), `unknown field "ProjectId" in atlas`},
		"nested duplicate":      {strings.Replace(good, `"cluster":"c1"`, `"cluster":"c1","Cluster":"c2"`, 1), `"Cluster" appears twice in atlas`},
		"array element in case": {strings.Replace(good, `"viewerCountries"`, `"ViewerCountries"`, 1), `unknown field "ViewerCountries"`},
		"kelvin sign for a k":   {strings.Replace(good, `"hostedZoneId"`, `"hostedZoneId":"Z1","hostedZoneId\u212a"`, 1), "unknown field"},
		"exact duplicate":       {strings.Replace(good, `"domain"`, `"domain":"x.org","domain"`, 1), `"domain" appears twice`},
		"not an object":         {`["eu-west-1"]`, "not a JSON object"},
		"trailing data":         {good + ` {}`, "data after the JSON object"},
	} {
		_, err := Parse("eu-west-1.json", []byte(c.raw))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "eu-west-1.json: malformed region definition") {
			t.Errorf("%s: err = %v, want it to name the file and contain %q", name, err, c.want)
		}
	}
}

// TestEnvironmentFieldNamesMatchExactly: the same for the environment file.
func TestEnvironmentFieldNamesMatchExactly(t *testing.T) {
	for name, c := range map[string]struct{ raw, want string }{
		"capitalised":          {`{"Name":"p"}`, `unknown field "Name"`},
		"upper-case duplicate": {`{"name":"p","NAME":"q"}`, `"NAME" appears twice`},
		"camel-case variant":   {`{"name":"p","AtlasCredentialsSecret":"x"}`, `unknown field "AtlasCredentialsSecret"`},
		"map key in two cases": {`{"name":"p","ledgerPublicKeys":{"eu-west-1":"","EU-WEST-1":""}}`, `"EU-WEST-1" appears twice in ledgerPublicKeys`},
	} {
		_, err := ParseEnvironment("environment.json", []byte(c.raw))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "environment.json: malformed environment file") {
			t.Errorf("%s: err = %v, want it to name the file and contain %q", name, err, c.want)
		}
	}
}
