package edge

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/internal/headers"
)

// NewResponseHeadersPolicy renders policy (always headers.Security() in production) as a CloudFront
// response-headers policy. Every header overrides what an origin sent, so the browser sees exactly what
// the local runner sends; a test compares the synthesized policy with policy.Header() header by header.
func NewResponseHeadersPolicy(scope constructs.Construct, id string, policy headers.Policy) awscloudfront.ResponseHeadersPolicy {
	security := &awscloudfront.ResponseSecurityHeadersBehavior{
		StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
			AccessControlMaxAge: awscdk.Duration_Seconds(jsii.Number(float64(policy.HSTSMaxAgeSeconds))),
			IncludeSubdomains:   jsii.Bool(policy.HSTSIncludeSubDomains),
			Preload:             jsii.Bool(policy.HSTSPreload),
			Override:            jsii.Bool(true),
		},
		ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
			ContentSecurityPolicy: jsii.String(policy.ContentSecurityPolicy),
			Override:              jsii.Bool(true),
		},
		FrameOptions: &awscloudfront.ResponseHeadersFrameOptions{
			FrameOption: awscloudfront.HeadersFrameOption(enumMember(policy.FrameOptions)),
			Override:    jsii.Bool(true),
		},
		ReferrerPolicy: &awscloudfront.ResponseHeadersReferrerPolicy{
			ReferrerPolicy: awscloudfront.HeadersReferrerPolicy(enumMember(policy.ReferrerPolicy)),
			Override:       jsii.Bool(true),
		},
	}
	if policy.ContentTypeNoSniff {
		security.ContentTypeOptions = &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)}
	}
	var custom *awscloudfront.ResponseCustomHeadersBehavior
	if names := policy.CustomNames(); len(names) > 0 {
		list := make([]*awscloudfront.ResponseCustomHeader, 0, len(names))
		for _, name := range names {
			list = append(list, &awscloudfront.ResponseCustomHeader{
				Header: jsii.String(name), Value: jsii.String(policy.Custom[name]), Override: jsii.Bool(true),
			})
		}
		custom = &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &list}
	}
	return awscloudfront.NewResponseHeadersPolicy(scope, jsii.String(id), &awscloudfront.ResponseHeadersPolicyProps{
		Comment:                 jsii.String("Caro security headers (internal/headers.Security)"),
		SecurityHeadersBehavior: security,
		CustomHeadersBehavior:   custom,
	})
}

// enumMember turns a header value ("strict-origin-when-cross-origin", "DENY") into the name of the CDK
// enum member that renders it (STRICT_ORIGIN_WHEN_CROSS_ORIGIN, DENY). A value CloudFront does not
// support fails the synth with jsii's "No such enum member".
func enumMember(value string) string {
	return strings.ToUpper(strings.ReplaceAll(value, "-", "_"))
}
