package regions

import (
	"strings"
	"testing"
	"testing/fstest"
)

const good = `{"region":"eu-west-1","primary":true,"domain":"caro.health","appDomain":"app.caro.health",
"apiDomain":"api.caro.health","hostedZoneId":"Z123ABC","atlas":{"projectId":"65a1f0c2e4b0a1b2c3d4e5f6","cluster":"c1"},
"alertEmail":"oncall@caro.health","viewerCountries":["NL"]}`

func standby(region string) string {
	s := strings.Replace(good, `"eu-west-1"`, `"`+region+`"`, 1)
	return strings.Replace(s, `"primary":true`, `"primary":false`, 1)
}

func TestDefaultDefinitions(t *testing.T) {
	// GIVEN the committed definitions WHEN loaded THEN eu-west-1 is primary and eu-central-1 standby.
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Primary().Region; got != "eu-west-1" {
		t.Errorf("primary = %s, want eu-west-1", got)
	}
	if sb := set.Standbys(); len(sb) != 1 || sb[0].Region != "eu-central-1" {
		t.Errorf("standbys = %+v, want eu-central-1", sb)
	}
	for _, d := range set.All() {
		if d.RetentionYears != 9 {
			t.Errorf("%s retention = %d, want 9", d.Region, d.RetentionYears)
		}
		if d.APIOriginDomain() != "api-origin.caro.health" {
			t.Errorf("api origin = %s", d.APIOriginDomain())
		}
	}
	if _, err := set.Get("us-west-2"); err == nil || !strings.Contains(err.Error(), "eu-west-1, eu-central-1") {
		t.Errorf("Get unknown region: %v", err)
	}
}

func TestRetentionDefaultsToNineYears(t *testing.T) {
	d, err := Parse("eu-west-1.json", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.RetentionYears != DefaultRetentionYears {
		t.Fatalf("retention = %d", d.RetentionYears)
	}
}

func TestBadDefinitions(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"unknown AWS region", map[string]string{"eu-west-9.json": strings.Replace(good, `"eu-west-1"`, `"eu-west-9"`, 1)},
			[]string{"eu-west-9.json", `field "region"`, "not an AWS region"}},
		{"missing field", map[string]string{"eu-west-1.json": strings.Replace(good, `"alertEmail":"oncall@caro.health",`, "", 1)},
			[]string{"eu-west-1.json", `field "alertEmail" is missing`}},
		{"missing nested field", map[string]string{"eu-west-1.json": strings.Replace(good, `"cluster":"c1"`, `"cluster":""`, 1)},
			[]string{`field "atlas.cluster" is missing`}},
		{"no primary", map[string]string{"eu-west-1.json": standby("eu-west-1")},
			[]string{"no primary region"}},
		{"two primaries", map[string]string{"eu-west-1.json": good,
			"eu-central-1.json": strings.Replace(good, `"eu-west-1"`, `"eu-central-1"`, 1)},
			[]string{"2 primary regions", "eu-central-1.json", "eu-west-1.json"}},
		{"malformed JSON", map[string]string{"eu-west-1.json": `{"region": "eu-west-1",`},
			[]string{"eu-west-1.json", "malformed"}},
		{"unknown field", map[string]string{"eu-west-1.json": strings.Replace(good, `"primary"`, `"primray":true,"primary"`, 1)},
			[]string{"eu-west-1.json", "primray"}},
		{"file name mismatch", map[string]string{"eu-central-1.json": good},
			[]string{"eu-central-1.json", "name the file <region>.json"}},
		{"bad country", map[string]string{"eu-west-1.json": strings.Replace(good, `["NL"]`, `["nl"]`, 1)},
			[]string{`field "viewerCountries"`, `"nl"`}},
		{"app domain outside domain", map[string]string{"eu-west-1.json": strings.Replace(good, "app.caro.health", "app.example.org", 1)},
			[]string{`field "appDomain"`, "not under domain"}},
		{"domains disagree", map[string]string{"eu-west-1.json": good,
			"eu-central-1.json": strings.ReplaceAll(standby("eu-central-1"), "caro.health", "caro.app")},
			[]string{"eu-central-1.json", "must agree"}},
		{"negative retention", map[string]string{"eu-west-1.json": strings.Replace(good, `"viewerCountries"`, `"retentionYears":-1,"viewerCountries"`, 1)},
			[]string{`field "retentionYears"`}},
		{"empty folder", map[string]string{}, []string{"no region definitions"}},
		{"bad Atlas key access", map[string]string{"eu-west-1.json": strings.Replace(good, `"cluster":"c1"`,
			`"cluster":"c1","keyAccess":{"atlasAwsAccountArn":"arn:aws:iam::1:root","externalId":"x","roleId":"nope"}`, 1)},
			[]string{`field "atlas.keyAccess.roleId"`}},
		{"bad replication spec ID", map[string]string{"eu-west-1.json": strings.Replace(good, `"cluster":"c1"`, `"cluster":"c1","replicationSpecId":"rs-1"`, 1)},
			[]string{`field "atlas.replicationSpecId"`}},
		{"no load", map[string]string{"eu-west-1.json": strings.Replace(good, `"viewerCountries"`, `"load":{"apiPeakRequestsPerSecond":0,"apiRequestSeconds":0.2},"viewerCountries"`, 1)},
			[]string{`field "load.apiPeakRequestsPerSecond"`}},
		{"request longer than API Gateway allows", map[string]string{"eu-west-1.json": strings.Replace(good, `"viewerCountries"`, `"load":{"apiPeakRequestsPerSecond":5,"apiRequestSeconds":30},"viewerCountries"`, 1)},
			[]string{`field "load.apiRequestSeconds"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range c.files {
				fsys[name] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := LoadFS(fsys, ".")
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestGoodSetOrdersPrimaryFirst(t *testing.T) {
	set, err := LoadFS(fstest.MapFS{
		"eu-central-1.json": {Data: []byte(standby("eu-central-1"))},
		"eu-west-1.json":    {Data: []byte(good)},
		"eu-north-1.json":   {Data: []byte(standby("eu-north-1"))},
	}, ".")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range set.All() {
		got = append(got, d.Region)
	}
	if strings.Join(got, ",") != "eu-west-1,eu-central-1,eu-north-1" {
		t.Fatalf("order = %v", got)
	}
}
