package ci

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/carohealth/platform/"

// goPackage is what `go list -json` says of one package of ours.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// ours returns the imports of p that are packages of this module, without the module prefix.
func ours(imports []string) []string {
	var out []string
	for _, i := range imports {
		if strings.HasPrefix(i, module) {
			out = append(out, strings.TrimPrefix(i, module))
		}
	}
	return out
}

func under(path string, roots ...string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return path == r || strings.HasPrefix(path, r+"/") })
}

// sharedDefinitions are the packages of ours the infrastructure code may import: definitions the
// deployed infrastructure and the running code must agree on, and the one reader of settings.
var sharedDefinitions = []string{"regions", "internal/headers", "internal/accesslog", "internal/ledger/pinnedkeys", "internal/config"}

// TestImportRules keeps the layout's import rules (docs/architecture.md "Layout", ../shared/design/layout.md):
// cdk -> constructs -> shared definitions; lambdas and cmd -> internal; internal/failover knows
// interfaces only; nothing imports cdk, cmd or lambdas; Lambda binaries never link CDK or jsii;
// cmd holds no AWS SDK code (outside its tests).
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range ours(p.Imports) {
			if under(imp, "cdk", "cmd", "lambdas") {
				t.Errorf("%s imports %s: nothing imports cdk, cmd or lambdas", p.ImportPath, imp)
			}
			if under(p.ImportPath, "constructs") && !under(imp, "constructs") && !under(imp, sharedDefinitions...) {
				t.Errorf("%s imports %s: constructs import only constructs and %v", p.ImportPath, imp, sharedDefinitions)
			}
			if p.ImportPath == "cdk" && !under(imp, "constructs") && !under(imp, sharedDefinitions...) {
				t.Errorf("cdk imports %s: the app imports only constructs and %v", imp, sharedDefinitions)
			}
			if under(p.ImportPath, "internal", "regions") && under(imp, "constructs") {
				t.Errorf("%s imports %s: the domain is free of CDK", p.ImportPath, imp)
			}
			if under(p.ImportPath, "internal/failover") && under(imp, "internal/providers") {
				t.Errorf("%s imports %s: the engine knows interfaces only, implemented in internal/providers", p.ImportPath, imp)
			}
		}
		for _, imp := range p.Imports {
			if under(p.ImportPath, "internal", "regions", "lambdas") && (strings.Contains(imp, "aws-cdk-go") || strings.Contains(imp, "jsii-runtime-go")) {
				t.Errorf("%s imports %s: the domain and the Lambda functions never link CDK or jsii", p.ImportPath, imp)
			}
			if under(p.ImportPath, "internal/failover") && strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2") {
				t.Errorf("%s imports %s: the engine knows no cloud", p.ImportPath, imp)
			}
			// Imports lists the non-test files' imports only: tests may build SDK clients for fakes.
			if under(p.ImportPath, "cmd") && strings.HasPrefix(imp, "github.com/aws/aws-sdk-go-v2") {
				t.Errorf("%s imports %s: cmd/caro only wires flags to options, calls packages and renders; build AWS clients in internal/config/awscloud and move the AWS logic into the package it serves", p.ImportPath, imp)
			}
		}
	}
}

// TestLambdaBinariesNeverLinkCDK checks the Lambda functions' whole dependency closure.
func TestLambdaBinariesNeverLinkCDK(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./lambdas/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "aws-cdk-go") || strings.Contains(dep, "jsii-runtime-go") || strings.HasPrefix(dep, module+"constructs") {
			t.Errorf("a Lambda function links %s", dep)
		}
	}
}
