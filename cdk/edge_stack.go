package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/edge"
)

// EdgeStackProps configures the global CaroEdge stack with plain values; main.go maps the region
// definitions onto them, so this file does not depend on regions/.
type EdgeStackProps struct {
	awscdk.StackProps
	// AppDomainName and APIDomainName are the viewer-facing names ("app.caro.health", "api.caro.health").
	AppDomainName string
	APIDomainName string
	// APIOriginDomainName is the failover name of the regional APIs (default "api-origin.<HostedZoneName>").
	APIOriginDomainName string
	// HostedZoneID and HostedZoneName identify the public zone of the names above.
	HostedZoneID   string
	HostedZoneName string
	// AllowedCountries is the viewer country allow-list (ISO 3166-1 alpha-2).
	AllowedCountries []string
	// StandbyRegion holds the asset replica. Unless ReplicaBucketArn/ReplicaKeyArn are set, the replica
	// is the one NewReplicaStack (with Assets) creates in that region (conventional bucket name and key alias),
	// so the stacks share no outputs. Empty StandbyRegion skips replication.
	StandbyRegion    string
	ReplicaBucketArn string
	ReplicaKeyArn    string
	// APIRegions are the regions whose APIs require the origin header; the origin secret is
	// replicated there.
	APIRegions []string
	// WebDir and WebConfig are the front end published to the asset bucket (see edge.Props).
	WebDir    string
	WebConfig map[string]interface{}
	// OriginSecretVersion pins the origin secret version CloudFront sends (context
	// originSecretVersion); empty: AWSCURRENT.
	OriginSecretVersion string
	// PriceClass is a CloudFront price class ("PriceClass_100", "PriceClass_200", "PriceClass_All");
	// default PriceClass_100 (Europe and North America).
	PriceClass string
}

// NewEdgeStack creates the CaroEdge stack in us-east-1 (where CloudFront certificates and
// CLOUDFRONT-scope web ACLs must live) holding the distribution, its WAF, certificate, asset bucket and
// origin secret. A region other than us-east-1 in props.Env is a programming error and panics.
func NewEdgeStack(scope constructs.Construct, id string, props *EdgeStackProps) awscdk.Stack {
	stackProps := props.StackProps
	env := awscdk.Environment{Region: jsii.String(edge.Region)}
	if stackProps.Env != nil {
		env = *stackProps.Env
		if env.Region == nil {
			env.Region = jsii.String(edge.Region)
		}
		if *env.Region != edge.Region {
			panic(fmt.Errorf("edge stack: region %s requested: CloudFront's certificate and web ACL must be in %s; leave Env.Region empty or set it to %s",
				*env.Region, edge.Region, edge.Region))
		}
	}
	stackProps.Env = &env
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("Caro edge: CloudFront, WAF, certificate and front-end assets for " + props.AppDomainName)
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &stackProps)

	replicaBucket, replicaKey := props.ReplicaBucketArn, props.ReplicaKeyArn
	if props.StandbyRegion != "" && replicaBucket == "" && replicaKey == "" {
		account := *stack.Account()
		replicaBucket = edge.ReplicaBucketArn(account, props.StandbyRegion)
		replicaKey = edge.ReplicaKeyAliasArn(account, props.StandbyRegion)
	}
	e := edge.New(stack, "Edge", &edge.Props{
		AppDomainName:       props.AppDomainName,
		APIDomainName:       props.APIDomainName,
		APIOriginDomainName: props.APIOriginDomainName,
		HostedZoneID:        props.HostedZoneID,
		HostedZoneName:      props.HostedZoneName,
		AllowedCountries:    props.AllowedCountries,
		StandbyRegion:       props.StandbyRegion,
		ReplicaBucketArn:    replicaBucket,
		ReplicaKeyArn:       replicaKey,
		OriginSecretRegions: props.APIRegions,
		PriceClass:          priceClass(props.PriceClass),
		WebDir:              props.WebDir,
		WebConfig:           props.WebConfig,
		OriginSecretVersion: props.OriginSecretVersion,
	})
	// Names operators and the pipeline look up; the front end itself is published with the stack
	// (edge.NewSite).
	for name, value := range map[string]*string{
		"AssetBucketName":        e.Assets.Bucket.BucketName(),
		"DistributionId":         e.Distribution.DistributionId(),
		"DistributionDomainName": e.Distribution.DistributionDomainName(),
	} {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value})
	}
	return stack
}

// priceClass maps CloudFormation's price class names to the CDK enum ("" keeps the edge default).
func priceClass(name string) awscloudfront.PriceClass {
	classes := map[string]awscloudfront.PriceClass{
		"":               "",
		"PriceClass_100": awscloudfront.PriceClass_PRICE_CLASS_100,
		"PriceClass_200": awscloudfront.PriceClass_PRICE_CLASS_200,
		"PriceClass_All": awscloudfront.PriceClass_PRICE_CLASS_ALL,
	}
	c, ok := classes[name]
	if !ok {
		panic(fmt.Errorf("edge stack: PriceClass %q is unknown: use PriceClass_100, PriceClass_200 or PriceClass_All", name))
	}
	return c
}
