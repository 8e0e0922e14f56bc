// Command cdk is the CDK app: one CaroPlatform-<region> stack per region definition in regions/, and
// the global CaroEdge stack in us-east-1, all checked by cdk-nag (AwsSolutions and HIPAA.Security).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := NewPlatformApp(app); err != nil {
		fmt.Fprintln(os.Stderr, "cdk:", err)
		os.Exit(1)
	}
	app.Synth(nil)
}
