package main

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthApp is shared by the tests below: a whole-app synth costs seconds.
var synthApp *PlatformApp

func platformApp(t *testing.T) *PlatformApp {
	t.Helper()
	if synthApp == nil {
		// The context of cdk.json (feature flags) plus an account: the test synthesizes exactly what
		// `cdk synth` does.
		ctx := cdkJSONContext(t)
		ctx["account"] = "123456789012"
		app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
		pa, err := NewPlatformApp(app)
		if err != nil {
			t.Fatal(err)
		}
		synthApp = pa
	}
	return synthApp
}

func TestAppHasOneStackPerRegionAndTheEdge(t *testing.T) {
	// GIVEN the committed region definitions WHEN the app is built
	pa := platformApp(t)
	// THEN there is one platform stack per region, in that region, and the edge stack in us-east-1
	var names []string
	for _, p := range pa.Platforms {
		names = append(names, *p.StackName()+"@"+*p.Region())
	}
	if got := strings.Join(names, ","); got != "CaroPlatform-eu-west-1@eu-west-1,CaroPlatform-eu-central-1@eu-central-1" {
		t.Errorf("platform stacks = %s", got)
	}
	if pa.Edge == nil || *pa.Edge.StackName() != "CaroEdge" || *pa.Edge.Region() != "us-east-1" {
		t.Errorf("edge stack missing or misplaced")
	}
	var replicas []string
	for _, r := range pa.Replicas {
		replicas = append(replicas, *r.StackName()+"@"+*r.Region())
	}
	if got := strings.Join(replicas, ","); got != "CaroReplica-eu-west-1@eu-west-1,CaroReplica-eu-central-1@eu-central-1" {
		t.Errorf("replica stacks = %s", got)
	}
}

func TestEveryStackIsNagClean(t *testing.T) {
	// GIVEN the whole app with the AwsSolutions and HIPAA.Security packs
	pa := platformApp(t)
	stacks := pa.Stacks()
	// WHEN each stack is synthesized THEN no stack has an unsuppressed error or warning
	for _, s := range stacks {
		if f := nagcheck.Findings(s); len(f) > 0 {
			t.Errorf("%s: %d unsuppressed cdk-nag findings:\n%s", *s.StackName(), len(f), strings.Join(f, "\n"))
		}
	}
}

func TestFailoverRecordsArePrimaryAndSecondary(t *testing.T) {
	pa := platformApp(t)
	want := map[string]string{"eu-west-1": "PRIMARY", "eu-central-1": "SECONDARY"}
	for _, p := range pa.Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		tpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]interface{}{
			"Name": "api-origin.caro.health", "Failover": want[*p.Region()], "TTL": "60",
		})
	}
}

func TestPlatformStackIsSelfContained(t *testing.T) {
	// A region must be rebuildable from nothing: no cross-stack imports.
	pa := platformApp(t)
	for _, p := range pa.Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		body := tpl.ToJSON()
		if strings.Contains(toJSON(t, body), "Fn::ImportValue") {
			t.Errorf("%s imports values from another stack", *p.StackName())
		}
		// AND no IAM role has a fixed name that a second region's stack would collide with
		if strings.Contains(toJSON(t, body), "CDKReplicationRole") {
			t.Errorf("%s has CDK's fixed replication role name; IAM names are account-wide", *p.StackName())
		}
		// AND the functions are arm64 Go handlers
		tpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
			"Architectures": []string{"arm64"}, "Runtime": "provided.al2023",
		})
	}
}
