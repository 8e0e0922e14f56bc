// Command cdk is the CDK app: one CaroPlatform-<region> stack per region definition in regions/, and
// the global CaroEdge stack in us-east-1, all checked by cdk-nag (AwsSolutions and HIPAA.Security) and
// their templates by the template check.
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/carohealth/platform/constructs/templatecheck"
)

func main() {
	os.Exit(templatecheck.Main(func(app awscdk.App) error {
		_, err := NewPlatformApp(app)
		return err
	}, os.Stderr))
}
