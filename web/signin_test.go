package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/headers"
	"github.com/carohealth/platform/regions"
)

// The production sign-in (js/cognito.js) talks to Cognito in the serving region, which after a
// failover is any region of regions/: each must be reachable under the CSP, or sign-in breaks
// exactly when it is needed most.
func TestCSPAllowsCognitoOfEveryRegion(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("js", "cognito.js"))
	if err != nil {
		t.Fatal(err)
	}
	const template = "`https://cognito-idp.${region}.amazonaws.com/`"
	if !strings.Contains(string(src), template) {
		t.Fatalf("js/cognito.js no longer builds the endpoint as %s: update this test and the CSP together", template)
	}
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	csp := headers.Security().Header().Get("Content-Security-Policy")
	var connect string
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "connect-src" {
			connect = " " + strings.Join(f[1:], " ") + " "
		}
	}
	for _, r := range set.All() {
		host := "https://cognito-idp." + r.Region + ".amazonaws.com"
		if !strings.Contains(connect, " "+host+" ") {
			t.Errorf("region %s: the CSP's connect-src (%q) does not allow %s: add it to internal/headers CognitoEndpoints", r.Region, connect, host)
		}
	}
}

var (
	importRe = regexp.MustCompile(`(?m)^\s*import\s+(?:[^"']*\sfrom\s+)?["'](\.[^"']+)["']`)
	byIDRe   = regexp.MustCompile(`\$\("([a-z-]+)"\)`)
	idAttrRe = regexp.MustCompile(`\sid="([a-z-]+)"`)
	dataRe   = regexp.MustCompile(`data-(field|step)="([a-zA-Z]+)"`)
)

// Without a bundler a misspelt module path or element ID only shows in a browser: check them here.
func TestModulesAndElementsExist(t *testing.T) {
	walk(t, ".js", func(path, text string) {
		for _, m := range importRe.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), m[1])); err != nil {
				t.Errorf("%s imports %s, which does not exist", path, m[1])
			}
		}
	})
	html, err := os.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range idAttrRe.FindAllStringSubmatch(string(html), -1) {
		ids[m[1]] = true
	}
	app, err := os.ReadFile(filepath.Join("js", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range byIDRe.FindAllStringSubmatch(string(app), -1) {
		if !ids[m[1]] {
			t.Errorf("js/app.js uses element #%s, which index.html does not have", m[1])
		}
	}
	// The sign-in form has an input for every field a token source reads and every second step.
	have := map[string]bool{}
	for _, m := range dataRe.FindAllStringSubmatch(string(html), -1) {
		have[m[1]+":"+m[2]] = true
	}
	for _, want := range []string{"field:sub", "field:tenant", "field:roles", "field:phone", "field:password", "step:code", "step:newPassword"} {
		if !have[want] {
			t.Errorf("index.html has no data-%s element", strings.Replace(want, ":", `="`, 1)+`"`)
		}
	}
}
