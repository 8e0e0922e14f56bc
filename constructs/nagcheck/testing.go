package nagcheck

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// FindingsUnder is Findings limited to the constructs at or below path (for example "/Test/Api"),
// for tests whose stack also holds scaffolding that is not under test.
func FindingsUnder(stack awscdk.Stack, path string) []string {
	var out []string
	for _, f := range Findings(stack) {
		if strings.HasPrefix(f, path+"/") || strings.HasPrefix(f, path+":") {
			out = append(out, f)
		}
	}
	return out
}
