package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// The origin secret's rotation, run on the synthesized templates the way CloudFormation deploys
// them: a stack update changes a resource only when its template changed, and resolves its
// Secrets Manager dynamic references then (a reference without a version resolves whatever is
// AWSCURRENT at that moment, a pinned one that version). After every stack of every step,
// CloudFront's origin header must be a value every regional WAF accepts, and at the end the new
// value is the one in use.

// secretVersions is Secrets Manager's state of the origin secret: version IDs by stage.
type secretVersions map[string]string

var dynamicRef = regexp.MustCompile(`\{\{resolve:secretsmanager:[^:]+:SecretString:[^:]*:([^:}]*):?([^:}]*)\}\}`)

// resolveRefs replaces each dynamic reference in text by the version ID it resolves to now.
func (v secretVersions) resolveRefs(text string) []string {
	var out []string
	for _, m := range dynamicRef.FindAllStringSubmatch(text, -1) {
		switch {
		case m[2] != "":
			out = append(out, m[2])
		case m[1] != "":
			out = append(out, v[m[1]])
		default:
			out = append(out, v["AWSCURRENT"])
		}
	}
	return out
}

// deployedSecrets is what the deployed stacks hold: each one's template text of the resources
// carrying the secret, and the values they resolved when last updated.
type deployedSecrets struct {
	edgeText    string
	edgeSends   []string
	wafText     map[string]string
	wafAccepts  map[string][]string
	secretState secretVersions
}

// originHeader is the edge template's distribution config (the resource carrying the header).
func originHeader(tpl cfnTemplate) string {
	for _, r := range tpl.Resources {
		if r.Type == "AWS::CloudFront::Distribution" {
			return fmt.Sprint(r.Properties)
		}
	}
	return ""
}

// regionalWAF is a platform template's web ACL text and the values its origin rule accepts.
func regionalWAF(tpl cfnTemplate) string {
	for _, r := range tpl.Resources {
		if r.Type == "AWS::WAFv2::WebACL" {
			return fmt.Sprint(r.Properties)
		}
	}
	return ""
}

// deploy applies the templates of the stacks named (in the app's order) and checks the invariant
// after each stack.
func (d *deployedSecrets) deploy(t *testing.T, step string, pa *PlatformApp, only func(name string) bool) {
	t.Helper()
	for _, s := range pa.Stacks() {
		name := *s.StackName()
		if !only(name) {
			continue
		}
		tpl := templateOf(t, s)
		switch {
		case name == "CaroEdge":
			if text := originHeader(tpl); text != d.edgeText {
				d.edgeText, d.edgeSends = text, d.secretState.resolveRefs(text)
			}
		case strings.HasPrefix(name, "CaroPlatform-"):
			if text := regionalWAF(tpl); text != d.wafText[name] {
				d.wafText[name], d.wafAccepts[name] = text, d.secretState.resolveRefs(text)
			}
		}
		for region, accepts := range d.wafAccepts {
			for _, sent := range d.edgeSends {
				if !slices.Contains(accepts, sent) {
					t.Errorf("%s, after deploying %s: CloudFront sends %s, the WAF of %s accepts only %v: every /api request is refused", step, name, sent, region, accepts)
				}
			}
		}
	}
}

// appWith synthesizes the app with extra context.
func appWith(t *testing.T, extra map[string]interface{}) *PlatformApp {
	t.Helper()
	ctx := cdkJSONContext(t)
	ctx["account"] = testAccount
	for k, v := range extra {
		ctx[k] = v
	}
	pa, err := NewPlatformApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	if err != nil {
		t.Fatal(err)
	}
	return pa
}

func TestOriginSecretRotatesWithoutRefusingRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes the app four times")
	}
	const v1, v2 = "a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"
	all := func(string) bool { return true }
	platforms := func(name string) bool { return strings.HasPrefix(name, "CaroPlatform-") }
	d := &deployedSecrets{wafText: map[string]string{}, wafAccepts: map[string][]string{}, secretState: secretVersions{"AWSCURRENT": v1}}

	// GIVEN the first deploy: the secret is created with its first value
	d.deploy(t, "first deploy", platformApp(t), all)
	// WHEN a new value is put (the old one becomes AWSPREVIOUS) and the documented steps run
	d.secretState = secretVersions{"AWSCURRENT": v2, "AWSPREVIOUS": v1}
	// 1. the regions accept the new value beside the one CloudFront sends
	d.deploy(t, "step 1", appWith(t, map[string]interface{}{originSecretVersionContext: v1, originSecretAcceptContext: v2}), platforms)
	// 2. CloudFront sends the new value, the regions still accept the old one
	d.deploy(t, "step 2", appWith(t, map[string]interface{}{originSecretVersionContext: v2, originSecretAcceptContext: v1}), all)
	// 3. the regions accept only the new value
	d.deploy(t, "step 3", appWith(t, map[string]interface{}{originSecretVersionContext: v2}), all)

	// THEN CloudFront sends the new value and every region accepts exactly that
	if !slices.Equal(d.edgeSends, []string{v2}) {
		t.Errorf("after the rotation CloudFront sends %v, want the new value %s", d.edgeSends, v2)
	}
	for region, accepts := range d.wafAccepts {
		if slices.Sort(accepts); !slices.Equal(slices.Compact(accepts), []string{v2}) {
			t.Errorf("after the rotation the WAF of %s accepts %v, want only %s", region, accepts, v2)
		}
	}
}
