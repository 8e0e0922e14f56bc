// Package nagcheck applies the cdk-nag packs the platform is held to (AwsSolutions and HIPAA.Security)
// and reads back the findings nobody suppressed. The CDK app and every construct test use it, so
// "nag clean" means the same thing everywhere.
package nagcheck

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ReportsContext is the CDK context key that asks for cdk-nag's CSV reports
// (`cdk synth -c nagReports=true`): one <pack>-<stack>-NagReport.csv per stack in the cloud assembly,
// every rule's verdict per resource with each suppression's reason, kept as audit evidence.
const ReportsContext = "nagReports"

// Apply adds the AwsSolutions and HIPAA.Security packs to scope (an app or a stack) as aspects.
// Findings appear as error and warning annotations at synthesis and fail a --strict synth whether or
// not reports are asked for. The reports are written only on request (make synth and the pipeline's
// synth stage ask): recording every rule's verdict for every resource costs a whole-app synth about
// 0.3 s of its 6 s (make bench-synth), which a developer's repeated synth does not need.
func Apply(scope constructs.IConstruct) {
	// -c on the command line gives a string, cdk.json or AppProps a bool.
	reports := false
	switch v := scope.Node().TryGetContext(jsii.String(ReportsContext)).(type) {
	case string:
		reports = v == "true"
	case bool:
		reports = v
	}
	props := &cdknag.NagPackProps{Verbose: jsii.Bool(true), Reports: jsii.Bool(reports)}
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(props), nil)
	awscdk.Aspects_Of(scope).Add(cdknag.NewHIPAASecurityChecks(props), nil)
}

// Findings synthesizes stack (if not yet) and returns its unsuppressed nag errors and warnings, one
// line each ("<path>: <message>"), sorted. An empty result means the stack is nag clean.
func Findings(stack awscdk.Stack) []string {
	ann := assertions.Annotations_FromStack(stack)
	anyMessage := assertions.Match_StringLikeRegexp(jsii.String(".*"))
	var out []string
	for _, list := range []*[]*cxapi.SynthesisMessage{
		ann.FindError(jsii.String("*"), anyMessage),
		ann.FindWarning(jsii.String("*"), anyMessage),
	} {
		for _, m := range *list {
			data := ""
			if m.Entry != nil && m.Entry.Data != nil {
				data = fmt.Sprint(m.Entry.Data)
				if s, ok := m.Entry.Data.(*string); ok {
					data = *s
				}
			}
			out = append(out, fmt.Sprintf("%s: %s", *m.Id, data))
		}
	}
	sort.Strings(out)
	return out
}

// Suppress records a nag suppression on one resource (not its children). reason must name the
// compensating control; cdk-nag requires at least 10 characters.
func Suppress(resource constructs.IConstruct, rule, reason string) {
	cdknag.NagSuppressions_AddResourceSuppressions(resource, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String(rule), Reason: jsii.String(reason)},
	}, jsii.Bool(false))
}

// SuppressWithChildren is Suppress for a construct whose generated children (for example a
// CDK-provided custom resource) carry the finding.
func SuppressWithChildren(resource constructs.IConstruct, rule, reason string) {
	cdknag.NagSuppressions_AddResourceSuppressions(resource, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String(rule), Reason: jsii.String(reason)},
	}, jsii.Bool(true))
}
