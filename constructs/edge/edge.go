// Package edge is the global front door of the Caro platform: one CloudFront distribution that serves
// the front-end assets (default behavior, a private S3 bucket behind origin access control) and the
// regional APIs (behavior /api/*, origin api-origin.<domain>, which Route 53 fails over between the
// regions). It carries the CLOUDFRONT-scope WAF, the security response headers of internal/headers,
// the viewer certificate and the origin secret the regional APIs require.
//
// Everything here must live in us-east-1 (CloudFront certificates and web ACLs are global resources
// managed from there); New refuses a stack in any other region.
package edge

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/internal/headers"
)

// OriginVerifyHeader is the header CloudFront adds to every request to the API origin. The regional
// API's WAF blocks requests without it, so the APIs cannot be reached around CloudFront (and its WAF,
// geo restriction and rate limit).
const OriginVerifyHeader = "X-Caro-Origin-Verify"

// APIPathPattern is the behavior path of the API; API Gateway strips the "api" base path mapping, so
// handlers see paths without the prefix.
const APIPathPattern = "/api/*"

// Region is where the edge stack must be deployed.
const Region = "us-east-1"

// Props configures the edge. Names are plain strings so the CDK app can fill them from the region
// definitions without this package knowing about them.
type Props struct {
	// AppDomainName is the front end's name, e.g. "app.caro.health".
	AppDomainName string
	// APIDomainName is the API's public name, e.g. "api.caro.health" (served by the same distribution;
	// an alternate domain name can be attached to one distribution only).
	APIDomainName string
	// APIOriginDomainName is the regional API's failover name; default "api-origin.<HostedZoneName>".
	APIOriginDomainName string
	// HostedZoneID and HostedZoneName identify the public Route 53 zone holding the names above. The
	// zone is referenced by attributes, not looked up, so synth needs no credentials.
	HostedZoneID   string
	HostedZoneName string
	// AllowedCountries is the viewer country allow-list (ISO 3166-1 alpha-2, e.g. "NL", "DE").
	AllowedCountries []string
	// StandbyRegion is the region holding the asset replica bucket, e.g. "eu-central-1" (required with
	// ReplicaBucketArn).
	StandbyRegion string
	// ReplicaBucketArn and ReplicaKeyArn name the versioned, KMS-encrypted bucket in StandbyRegion the
	// assets replicate to (NewAssetReplica builds it; ReplicaBucketArn() and ReplicaKeyAliasArn() give
	// its names), and its key as a key ARN or an alias ARN. The replica is also the fallback origin of
	// the assets. Both or neither: without them replication is skipped, the construct says so in an
	// info annotation and HIPAA.Security-S3BucketReplicationEnabled reports it.
	ReplicaBucketArn string
	ReplicaKeyArn    string
	// OriginSecretRegions are the regions whose APIs check the origin header; the origin secret is
	// replicated there (Secrets Manager replica, encrypted with that region's aws/secretsmanager key)
	// so their stacks resolve it by name.
	OriginSecretRegions []string
	// OriginSecretVersion pins the version of the origin secret CloudFront sends (a Secrets Manager
	// version ID); empty sends the version staged AWSCURRENT at the distribution's last update.
	OriginSecretVersion string
	// WebDir is the front end (the repository's web/) published to the asset bucket on every deploy;
	// empty publishes nothing. WebConfig replaces its development config.json.
	WebDir    string
	WebConfig map[string]interface{}
	// PriceClass limits the edge locations (default PRICE_CLASS_100: Europe and North America).
	PriceClass awscloudfront.PriceClass
	// RateLimitPer5Min is the WAF per-IP request limit over 5 minutes (default 1000, minimum 100).
	RateLimitPer5Min int
	// LogRetention is how long WAF logs are kept (default one year); access logs expire after 365 days.
	LogRetention awslogs.RetentionDays
}

// Edge is what New builds; fields are exposed for wiring and tests.
type Edge struct {
	Distribution          awscloudfront.Distribution
	Certificate           awscertificatemanager.Certificate
	ResponseHeadersPolicy awscloudfront.ResponseHeadersPolicy
	WebACL                awswafv2.CfnWebACL
	OriginSecret          awssecretsmanager.Secret
	Assets                *AssetBuckets
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// Validate says what is wrong with props and what to set instead.
func (p *Props) Validate() error {
	var errs []error
	need := func(field, value, example string) {
		if strings.TrimSpace(value) == "" {
			errs = append(errs, fmt.Errorf("edge: %s is empty: set it, e.g. %q", field, example))
		}
	}
	need("AppDomainName", p.AppDomainName, "app.caro.health")
	need("APIDomainName", p.APIDomainName, "api.caro.health")
	need("HostedZoneID", p.HostedZoneID, "Z0123456789ABCDEFGHIJ")
	need("HostedZoneName", p.HostedZoneName, "caro.health")
	if p.ReplicaBucketArn != "" {
		need("StandbyRegion", p.StandbyRegion, "eu-central-1")
	}
	zone := strings.TrimSuffix(p.HostedZoneName, ".")
	for _, f := range [][2]string{
		{"AppDomainName", p.AppDomainName}, {"APIDomainName", p.APIDomainName}, {"APIOriginDomainName", p.APIOriginDomainName},
	} {
		if name := f[1]; name != "" && zone != "" && name != zone && !strings.HasSuffix(name, "."+zone) {
			errs = append(errs, fmt.Errorf("edge: %s %q is not in hosted zone %q: use a name under the zone", f[0], name, zone))
		}
	}
	if len(p.AllowedCountries) == 0 {
		errs = append(errs, errors.New("edge: AllowedCountries is empty: list the viewer countries (ISO 3166-1 alpha-2, e.g. NL)"))
	}
	for _, c := range p.AllowedCountries {
		if !countryCode.MatchString(c) {
			errs = append(errs, fmt.Errorf("edge: AllowedCountries has %q: use two upper-case letters (ISO 3166-1 alpha-2), e.g. NL", c))
		}
	}
	if (p.ReplicaBucketArn == "") != (p.ReplicaKeyArn == "") {
		errs = append(errs, errors.New("edge: ReplicaBucketArn and ReplicaKeyArn go together: set both (replica bucket and its KMS key) or neither"))
	}
	if arn := p.ReplicaKeyArn; arn != "" && !strings.HasPrefix(arn, "arn:") && !strings.HasPrefix(arn, "${Token[") {
		errs = append(errs, fmt.Errorf("edge: ReplicaKeyArn %q is not an ARN: use the replica key's ARN or alias ARN (edge.ReplicaKeyAliasArn)", arn))
	}
	if err := ValidateOriginSecretVersion(p.OriginSecretVersion); err != nil {
		errs = append(errs, fmt.Errorf("edge: OriginSecretVersion: %w", err))
	}
	if p.RateLimitPer5Min != 0 && p.RateLimitPer5Min < 100 {
		errs = append(errs, fmt.Errorf("edge: RateLimitPer5Min %d is below the WAF minimum of 100", p.RateLimitPer5Min))
	}
	return errors.Join(errs...)
}

func (p *Props) apiOrigin() string {
	if p.APIOriginDomainName != "" {
		return p.APIOriginDomainName
	}
	return "api-origin." + strings.TrimSuffix(p.HostedZoneName, ".")
}

// New builds the edge under scope. It panics (at synth, as CDK constructs do) when props are invalid
// or the stack is not in us-east-1.
func New(scope constructs.Construct, id string, props *Props) *Edge {
	if props == nil {
		props = &Props{}
	}
	if err := props.Validate(); err != nil {
		panic(err)
	}
	stack := awscdk.Stack_Of(scope)
	if region := stack.Region(); *awscdk.Token_IsUnresolved(region) || *region != Region {
		panic(fmt.Errorf("edge: stack %s is in region %s: CloudFront certificates and CLOUDFRONT-scope web ACLs must be in %s; set the stack env region to %s",
			*stack.StackName(), *region, Region, Region))
	}
	c := constructs.NewConstruct(scope, jsii.String(id))

	logs := newEdgeKey(c, "LogsKey", "caro/edge-logs",
		"Encrypts CloudFront access logs, WAF logs and the origin secret", true)
	assets := NewAssetBuckets(c, "Assets", &AssetBucketsProps{
		LogsKey: logs, StandbyRegion: props.StandbyRegion,
		ReplicaBucketArn: props.ReplicaBucketArn, ReplicaKeyArn: props.ReplicaKeyArn,
	})
	secret := NewOriginSecret(c, "OriginSecret", &OriginSecretProps{Key: logs, ReplicaRegions: props.OriginSecretRegions})
	webACL := NewWebACL(c, "WebAcl", &WebACLProps{
		LogsKey: logs, RateLimitPer5Min: props.RateLimitPer5Min, LogRetention: props.LogRetention,
	})
	policy := NewResponseHeadersPolicy(c, "SecurityHeaders", headers.Security())

	zone := awsroute53.HostedZone_FromHostedZoneAttributes(c, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String(props.HostedZoneID),
		ZoneName:     jsii.String(strings.TrimSuffix(props.HostedZoneName, ".")),
	})
	cert := awscertificatemanager.NewCertificate(c, jsii.String("Certificate"), &awscertificatemanager.CertificateProps{
		DomainName:              jsii.String(props.AppDomainName),
		SubjectAlternativeNames: jsii.Strings(props.APIDomainName),
		Validation:              awscertificatemanager.CertificateValidation_FromDns(zone),
	})

	priceClass := props.PriceClass
	if priceClass == "" {
		priceClass = awscloudfront.PriceClass_PRICE_CLASS_100
	}
	apiOrigin := awscloudfrontorigins.NewHttpOrigin(jsii.String(props.apiOrigin()), &awscloudfrontorigins.HttpOriginProps{
		ProtocolPolicy:     awscloudfront.OriginProtocolPolicy_HTTPS_ONLY,
		OriginSslProtocols: &[]awscloudfront.OriginSslPolicy{awscloudfront.OriginSslPolicy_TLS_V1_2},
		// CloudFront overwrites a viewer-sent header of the same name, so a viewer cannot forge it.
		CustomHeaders: &map[string]*string{OriginVerifyHeader: secret.HeaderValue(props.OriginSecretVersion)},
		ReadTimeout:   awscdk.Duration_Seconds(jsii.Number(30)),
	})
	assetOrigin := awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(assets.Bucket, &awscloudfrontorigins.S3BucketOriginWithOACProps{
		OriginAccessLevels: &[]awscloudfront.AccessLevel{awscloudfront.AccessLevel_READ},
	})

	// With a replica, CloudFront falls back to the standby copy when the primary bucket fails.
	var defaultOrigin awscloudfront.IOrigin = assetOrigin
	if assets.Replica != nil {
		defaultOrigin = awscloudfrontorigins.NewOriginGroup(&awscloudfrontorigins.OriginGroupProps{
			PrimaryOrigin: assetOrigin,
			FallbackOrigin: awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(assets.Replica, &awscloudfrontorigins.S3BucketOriginWithOACProps{
				OriginAccessLevels: &[]awscloudfront.AccessLevel{awscloudfront.AccessLevel_READ},
			}),
			FallbackStatusCodes: &[]*float64{jsii.Number(500), jsii.Number(502), jsii.Number(503), jsii.Number(504)},
		})
	}

	countries := make([]*string, len(props.AllowedCountries))
	for i, c := range props.AllowedCountries {
		countries[i] = jsii.String(c)
	}
	dist := awscloudfront.NewDistribution(c, jsii.String("Distribution"), &awscloudfront.DistributionProps{
		Comment:     jsii.String("Caro front door: assets and /api/* for " + props.AppDomainName),
		DomainNames: jsii.Strings(props.AppDomainName, props.APIDomainName),
		Certificate: cert,
		// TLS 1.2+ with forward-secret AEAD ciphers only.
		MinimumProtocolVersion: awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021,
		SslSupportMethod:       awscloudfront.SSLMethod_SNI,
		HttpVersion:            awscloudfront.HttpVersion_HTTP2_AND_3,
		PriceClass:             priceClass,
		DefaultRootObject:      jsii.String("index.html"),
		EnableLogging:          jsii.Bool(true),
		LogBucket:              assets.CloudFrontLogs,
		LogFilePrefix:          jsii.String("cloudfront/"),
		LogIncludesCookies:     jsii.Bool(false),
		GeoRestriction:         awscloudfront.GeoRestriction_Allowlist(countries...),
		WebAclId:               webACL.AttrArn(),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                defaultOrigin,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachedMethods:         awscloudfront.CachedMethods_CACHE_GET_HEAD(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			ResponseHeadersPolicy: policy,
			Compress:              jsii.Bool(true),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			APIPathPattern: {
				Origin:         apiOrigin,
				AllowedMethods: awscloudfront.AllowedMethods_ALLOW_ALL(),
				CachedMethods:  awscloudfront.CachedMethods_CACHE_GET_HEAD(),
				// With caching disabled, the AllViewerExceptHostHeader origin request policy forwards the
				// Authorization header (it cannot be named in an origin request policy; AWS knowledge
				// center "cloudfront-authorization-header"), and the Host sent is the origin's name, which
				// is the API Gateway custom domain.
				CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
				OriginRequestPolicy:   awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
				ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
				ResponseHeadersPolicy: policy,
				Compress:              jsii.Bool(true),
			},
		},
	})
	// The header names the secret by name (not by a reference CDK would follow).
	dist.Node().AddDependency(secret.Secret)
	// The OAC key statement uses distribution/* of this account to break the key -> bucket ->
	// distribution cycle; the bucket policy still names this one distribution, and both are needed.
	awscdk.Annotations_Of(c).AcknowledgeWarning(jsii.String("@aws-cdk/aws-cloudfront-origins:wildcardKeyPolicyForOac"),
		jsii.String("bucket policy restricts s3:GetObject to this distribution's ARN; the key statement only adds kms:Decrypt for distributions of this account"))

	// The replica is imported (it lives in the standby stack); NewAssetReplica grants OAC reads there.
	awscdk.Annotations_Of(c).AcknowledgeWarning(jsii.String("@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac"),
		jsii.String("the replica bucket policy is written by edge.NewAssetReplica in the standby stack"))

	target := awsroute53.RecordTarget_FromAlias(awsroute53targets.NewCloudFrontTarget(dist))
	for i, name := range []string{props.AppDomainName, props.APIDomainName} {
		awsroute53.NewARecord(c, jsii.String(fmt.Sprintf("AliasA%d", i)), &awsroute53.ARecordProps{
			Zone: zone, RecordName: jsii.String(name), Target: target,
		})
		awsroute53.NewAaaaRecord(c, jsii.String(fmt.Sprintf("AliasAAAA%d", i)), &awsroute53.AaaaRecordProps{
			Zone: zone, RecordName: jsii.String(name), Target: target,
		})
	}

	if props.WebDir != "" {
		site := NewSite(c, "Site", &SiteProps{Dir: props.WebDir, Bucket: assets.Bucket, Distribution: dist, Config: props.WebConfig, LogsKey: logs})
		if assets.ReplicationPolicy != nil {
			// S3 replicates an object when it is written, with the role's permissions of that moment.
			site.Node().AddDependency(assets.ReplicationPolicy)
		}
	}
	return &Edge{
		Distribution: dist, Certificate: cert, ResponseHeadersPolicy: policy,
		WebACL: webACL, OriginSecret: secret.Secret, Assets: assets,
	}
}
