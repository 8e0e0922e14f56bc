package edge_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/edge"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/internal/headers"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

const (
	replicaBucketArn = "arn:aws:s3:::caro-assets-replica-111111111111-eu-central-1"
	replicaKeyArn    = "arn:aws:kms:eu-central-1:111111111111:key/11111111-2222-3333-4444-555555555555"
)

func fullProps() *edge.Props {
	return &edge.Props{
		AppDomainName:       "app.caro.health",
		APIDomainName:       "api.caro.health",
		HostedZoneID:        "Z0123456789ABCDEFGHIJ",
		HostedZoneName:      "caro.health",
		AllowedCountries:    []string{"NL", "DE", "BE"},
		StandbyRegion:       "eu-central-1",
		ReplicaBucketArn:    replicaBucketArn,
		ReplicaKeyArn:       replicaKeyArn,
		OriginSecretRegions: []string{"eu-west-1", "eu-central-1"},
	}
}

// synth builds an us-east-1 stack holding the edge, with the nag packs applied.
func synth(t *testing.T, props *edge.Props) (awscdk.Stack, assertions.Template) {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("EdgeTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("us-east-1")},
	})
	edge.New(stack, "Edge", props)
	nagcheck.Apply(stack)
	return stack, assertions.Template_FromStack(stack, nil)
}

func TestEdge(t *testing.T) {
	// GIVEN full props (replica in the standby region) WHEN the edge is synthesized
	stack, tmpl := synth(t, fullProps())

	t.Run("THEN the asset bucket is private, KMS-encrypted, versioned, logged and replicated", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{
				"BucketKeyEnabled": true,
				"ServerSideEncryptionByDefault": map[string]any{
					"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": assertions.Match_AnyValue(),
				},
			}}},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"VersioningConfiguration": map[string]any{"Status": "Enabled"},
			"LoggingConfiguration":    map[string]any{"DestinationBucketName": assertions.Match_AnyValue(), "LogFilePrefix": "assets/"},
			"ReplicationConfiguration": map[string]any{
				"Role": assertions.Match_AnyValue(),
				"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
					"Status":      "Enabled",
					"Destination": assertions.Match_ObjectLike(&map[string]any{"Bucket": replicaBucketArn, "EncryptionConfiguration": map[string]any{"ReplicaKmsKeyID": replicaKeyArn}}),
					"SourceSelectionCriteria": assertions.Match_ObjectLike(&map[string]any{
						"SseKmsEncryptedObjects": map[string]any{"Status": "Enabled"},
					}),
				})},
			},
		})
	})

	t.Run("THEN every bucket refuses non-TLS requests", func(t *testing.T) {
		policies := tmpl.FindResources(jsii.String("AWS::S3::BucketPolicy"), nil)
		buckets := tmpl.FindResources(jsii.String("AWS::S3::Bucket"), nil)
		if len(*policies) != len(*buckets) || len(*buckets) != 3 {
			t.Fatalf("want 3 buckets each with a policy, got %d buckets, %d policies", len(*buckets), len(*policies))
		}
		for name, p := range *policies {
			doc, _ := json.Marshal(p)
			if !strings.Contains(string(doc), `"aws:SecureTransport":"false"`) {
				t.Errorf("bucket policy %s has no aws:SecureTransport deny: %s", name, doc)
			}
		}
	})

	t.Run("THEN the CloudFront log bucket accepts ACL-based log delivery and uses KMS", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerPreferred"}}},
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{assertions.Match_ObjectLike(&map[string]any{
				"ServerSideEncryptionByDefault": assertions.Match_ObjectLike(&map[string]any{"SSEAlgorithm": "aws:kms"}),
			})}},
			"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"LogFilePrefix": "cloudfront-logs/"}),
		})
	})

	t.Run("THEN CloudFront reads the asset bucket through origin access control only", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::CloudFront::OriginAccessControl"), map[string]any{
			"OriginAccessControlConfig": assertions.Match_ObjectLike(&map[string]any{
				"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4",
			}),
		})
		tmpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Action":    "s3:GetObject",
					"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
					"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": assertions.Match_AnyValue()}},
				}),
			})}),
		})
		tmpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
			"EnableKeyRotation": true,
			"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Action":    "kms:Decrypt",
					"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
					"Condition": map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": assertions.Match_AnyValue()}},
				}),
			})}),
		})
	})

	t.Run("THEN viewers get TLS 1.2_2021+, HTTPS redirects, HTTP/2+3, logging, geo allow-list and the WAF", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
			"DistributionConfig": assertions.Match_ObjectLike(&map[string]any{
				"Aliases":           []any{"app.caro.health", "api.caro.health"},
				"DefaultRootObject": "index.html",
				"HttpVersion":       "http2and3",
				"PriceClass":        "PriceClass_100",
				"ViewerCertificate": map[string]any{
					"AcmCertificateArn":      assertions.Match_AnyValue(),
					"MinimumProtocolVersion": "TLSv1.2_2021",
					"SslSupportMethod":       "sni-only",
				},
				"Logging": map[string]any{"Bucket": assertions.Match_AnyValue(), "IncludeCookies": false, "Prefix": "cloudfront/"},
				"Restrictions": map[string]any{"GeoRestriction": map[string]any{
					"RestrictionType": "whitelist", "Locations": []any{"NL", "DE", "BE"},
				}},
				"WebACLId": map[string]any{"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"Arn"})},
				"DefaultCacheBehavior": assertions.Match_ObjectLike(&map[string]any{
					"AllowedMethods":          []any{"GET", "HEAD"},
					"CachePolicyId":           "658327ea-f89d-4fab-a63d-7e88639e58f6", // CachingOptimized
					"ViewerProtocolPolicy":    "redirect-to-https",
					"ResponseHeadersPolicyId": assertions.Match_AnyValue(),
				}),
			}),
		})
	})

	t.Run("THEN assets fail over to the standby replica on 5xx through an origin group", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
			"DistributionConfig": assertions.Match_ObjectLike(&map[string]any{
				"OriginGroups": map[string]any{"Quantity": 1, "Items": []any{assertions.Match_ObjectLike(&map[string]any{
					"FailoverCriteria": map[string]any{"StatusCodes": map[string]any{"Quantity": 4, "Items": []any{500, 502, 503, 504}}},
				})}},
				"Origins": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"DomainName":            "caro-assets-replica-111111111111-eu-central-1.s3.eu-central-1.amazonaws.com",
					"OriginAccessControlId": assertions.Match_AnyValue(),
				})}),
			}),
		})
	})

	t.Run("THEN /api/* goes to api-origin over TLS 1.2 with all methods, no caching, Authorization forwarded", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
			"DistributionConfig": assertions.Match_ObjectLike(&map[string]any{
				"CacheBehaviors": []any{assertions.Match_ObjectLike(&map[string]any{
					"PathPattern":             "/api/*",
					"AllowedMethods":          []any{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"},
					"CachePolicyId":           "4135ea2d-6df8-44a3-9df3-4b5a84be39ad", // CachingDisabled
					"OriginRequestPolicyId":   "b689b0a8-53d0-40ab-baf2-68738e2966ac", // AllViewerExceptHostHeader
					"ViewerProtocolPolicy":    "redirect-to-https",
					"ResponseHeadersPolicyId": assertions.Match_AnyValue(),
				})},
				"Origins": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"DomainName": "api-origin.caro.health",
					"CustomOriginConfig": assertions.Match_ObjectLike(&map[string]any{
						"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": []any{"TLSv1.2"},
					}),
					"OriginCustomHeaders": []any{map[string]any{
						"HeaderName": "X-Caro-Origin-Verify", "HeaderValue": assertions.Match_AnyValue(),
					}},
				})}),
			}),
		})
	})

	t.Run("THEN the origin secret is generated, KMS-encrypted, replicated, and reaches CloudFront only as a dynamic reference", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"Name":                 edge.OriginSecretName,
			"KmsKeyId":             assertions.Match_AnyValue(),
			"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"PasswordLength": 48, "ExcludePunctuation": true}),
			"ReplicaRegions":       []any{map[string]any{"Region": "eu-west-1"}, map[string]any{"Region": "eu-central-1"}},
		})
		value := originHeaderValue(t, tmpl)
		if value != strconv.Quote(edge.OriginSecretReference("")) {
			t.Fatalf("origin header must be the secret's dynamic reference, got %s", value)
		}
		// AND the distribution waits for the secret it names by name
		tmpl.HasResource(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
			"DependsOn": assertions.Match_ArrayWith(&[]any{assertions.Match_StringLikeRegexp(jsii.String("OriginSecret"))}),
		})
	})

	t.Run("THEN the response headers policy equals headers.Security() header by header", func(t *testing.T) {
		got := responseHeaders(t, tmpl)
		want := headers.Security().Header()
		if !reflect.DeepEqual(got, want) {
			for name := range union(got, want) {
				if g, w := got.Get(name), want.Get(name); g != w {
					t.Errorf("%s: CloudFront sends %q, internal/headers says %q", name, g, w)
				}
			}
			t.Fatal("response headers policy and internal/headers differ")
		}
	})

	t.Run("THEN a CLOUDFRONT-scope web ACL runs the rate limit, a 64 KB body limit and the managed groups, and logs redacted", func(t *testing.T) {
		rules := []any{assertions.Match_ObjectLike(&map[string]any{
			"Name": "RateLimitPerIp", "Priority": 0, "Action": map[string]any{"Block": map[string]any{}},
			"Statement": map[string]any{"RateBasedStatement": assertions.Match_ObjectLike(&map[string]any{
				"AggregateKeyType": "IP", "Limit": 1000,
			})},
		})}
		rules = append(rules, assertions.Match_ObjectLike(&map[string]any{
			"Name": "BodySizeLimit", "Priority": 1, "Action": map[string]any{"Block": map[string]any{}},
			"Statement": map[string]any{"SizeConstraintStatement": assertions.Match_ObjectLike(&map[string]any{
				"ComparisonOperator": "GT", "Size": 65536,
				"FieldToMatch": map[string]any{"Body": map[string]any{"OversizeHandling": "MATCH"}},
			})},
		}))
		for i, g := range []string{"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet",
			"AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"} {
			group := map[string]any{"VendorName": "AWS", "Name": g}
			if g == "AWSManagedRulesCommonRuleSet" {
				// the 8 KB body rule only counts; BodySizeLimit enforces 64 KB instead
				group["RuleActionOverrides"] = []any{map[string]any{
					"Name": "SizeRestrictions_BODY", "ActionToUse": map[string]any{"Count": map[string]any{}},
				}}
			}
			rules = append(rules, assertions.Match_ObjectLike(&map[string]any{
				"Name": g, "Priority": i + 2, "OverrideAction": map[string]any{"None": map[string]any{}},
				"Statement": map[string]any{"ManagedRuleGroupStatement": group},
			}))
		}
		tmpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]any{
			"Scope":             "CLOUDFRONT",
			"DefaultAction":     map[string]any{"Allow": map[string]any{}},
			"Rules":             rules,
			"AssociationConfig": map[string]any{"RequestBody": map[string]any{"CLOUDFRONT": map[string]any{"DefaultSizeInspectionLimit": "KB_64"}}},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::WAFv2::LoggingConfiguration"), map[string]any{
			"ResourceArn": map[string]any{"Fn::GetAtt": assertions.Match_ArrayWith(&[]any{"Arn"})},
			"RedactedFields": []any{
				map[string]any{"SingleHeader": map[string]any{"Name": "authorization"}},
				map[string]any{"SingleHeader": map[string]any{"Name": "cookie"}},
			},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{
			"LogGroupName":    assertions.Match_StringLikeRegexp(jsii.String("^aws-waf-logs-")),
			"KmsKeyId":        assertions.Match_AnyValue(),
			"RetentionInDays": 365,
		})
	})

	t.Run("THEN the certificate is DNS-validated in the zone and the names alias the distribution", func(t *testing.T) {
		tmpl.HasResourceProperties(jsii.String("AWS::CertificateManager::Certificate"), map[string]any{
			"DomainName":              "app.caro.health",
			"SubjectAlternativeNames": []any{"api.caro.health"},
			"ValidationMethod":        "DNS",
			"DomainValidationOptions": assertions.Match_ArrayWith(&[]any{map[string]any{
				"DomainName": "app.caro.health", "HostedZoneId": "Z0123456789ABCDEFGHIJ",
			}}),
		})
		for _, name := range []string{"app.caro.health.", "api.caro.health."} {
			for _, typ := range []string{"A", "AAAA"} {
				tmpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]any{
					"Name": name, "Type": typ, "HostedZoneId": "Z0123456789ABCDEFGHIJ",
					"AliasTarget": assertions.Match_ObjectLike(&map[string]any{"HostedZoneId": assertions.Match_AnyValue()}),
				})
			}
		}
	})

	t.Run("THEN cdk-nag AwsSolutions and HIPAA.Security report nothing unsuppressed", func(t *testing.T) {
		if f := nagcheck.Findings(stack); len(f) != 0 {
			t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

func TestEdgeWithoutReplica(t *testing.T) {
	// GIVEN no replica bucket WHEN synthesized
	props := fullProps()
	props.ReplicaBucketArn, props.ReplicaKeyArn = "", ""
	stack, tmpl := synth(t, props)

	// THEN no replication is configured and the one nag finding says so
	tmpl.ResourcePropertiesCountIs(jsii.String("AWS::S3::Bucket"), map[string]any{
		"ReplicationConfiguration": assertions.Match_AnyValue(),
	}, jsii.Number(0))
	findings := nagcheck.Findings(stack)
	if len(findings) != 1 || !strings.Contains(findings[0], "HIPAA.Security-S3BucketReplicationEnabled") {
		t.Fatalf("want exactly the replication finding, got:\n%s", strings.Join(findings, "\n"))
	}
	info := assertions.Annotations_FromStack(stack).FindInfo(jsii.String("*"),
		assertions.Match_StringLikeRegexp(jsii.String("replication to the standby region is skipped")))
	if len(*info) != 1 {
		t.Fatalf("want one info annotation about skipped replication, got %d", len(*info))
	}
}

func TestPropsValidate(t *testing.T) {
	cases := map[string]struct {
		edit func(*edge.Props)
		want string
	}{
		"no countries":          {func(p *edge.Props) { p.AllowedCountries = nil }, "AllowedCountries is empty"},
		"lower-case country":    {func(p *edge.Props) { p.AllowedCountries = []string{"nl"} }, `AllowedCountries has "nl"`},
		"name outside the zone": {func(p *edge.Props) { p.APIDomainName = "api.example.com" }, "APIDomainName"},
		"replica without key":   {func(p *edge.Props) { p.ReplicaKeyArn = "" }, "ReplicaBucketArn and ReplicaKeyArn go together"},
		"no zone id":            {func(p *edge.Props) { p.HostedZoneID = "" }, "HostedZoneID is empty"},
		"tiny rate limit":       {func(p *edge.Props) { p.RateLimitPer5Min = 10 }, "below the WAF minimum"},
		"key id not ARN":        {func(p *edge.Props) { p.ReplicaKeyArn = "1234abcd" }, "ReplicaKeyArn \"1234abcd\" is not an ARN"},
	}
	for name, tc := range cases {
		t.Run("GIVEN "+name+" THEN Validate names the field", func(t *testing.T) {
			p := fullProps()
			tc.edit(p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
	if err := fullProps().Validate(); err != nil {
		t.Fatalf("GIVEN full props THEN Validate passes, got %v", err)
	}
}

func TestEdgeRefusesOtherRegions(t *testing.T) {
	// GIVEN a stack in eu-west-1 WHEN the edge is added THEN it panics naming us-east-1
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "us-east-1") {
			t.Fatalf("want a panic naming us-east-1, got %v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Wrong"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-west-1")},
	})
	edge.New(stack, "Edge", fullProps())
}

// responseHeaders renders the synthesized ResponseHeadersPolicy the way CloudFront sends it, checking
// that every header overrides the origin's.
func responseHeaders(t *testing.T, tmpl assertions.Template) http.Header {
	t.Helper()
	found := tmpl.FindResources(jsii.String("AWS::CloudFront::ResponseHeadersPolicy"), nil)
	if len(*found) != 1 {
		t.Fatalf("want one response headers policy, got %d", len(*found))
	}
	var policy struct {
		Properties struct {
			ResponseHeadersPolicyConfig struct {
				SecurityHeadersConfig struct {
					StrictTransportSecurity *struct {
						AccessControlMaxAgeSec int
						IncludeSubdomains      bool
						Preload                bool
						Override               bool
					}
					ContentSecurityPolicy *struct {
						ContentSecurityPolicy string
						Override              bool
					}
					ContentTypeOptions *struct{ Override bool }
					FrameOptions       *struct {
						FrameOption string
						Override    bool
					}
					ReferrerPolicy *struct {
						ReferrerPolicy string
						Override       bool
					}
					XSSProtection any
				}
				CustomHeadersConfig struct {
					Items []struct {
						Header, Value string
						Override      bool
					}
				}
				RemoveHeadersConfig any
				CorsConfig          any
			}
		}
	}
	for _, r := range *found {
		raw, _ := json.Marshal(r)
		if err := json.Unmarshal(raw, &policy); err != nil {
			t.Fatal(err)
		}
	}
	cfg := policy.Properties.ResponseHeadersPolicyConfig
	sec := cfg.SecurityHeadersConfig
	if sec.XSSProtection != nil || cfg.RemoveHeadersConfig != nil || cfg.CorsConfig != nil {
		t.Errorf("policy sets headers internal/headers does not know: %+v", cfg)
	}
	h := http.Header{}
	override := func(name string, ok bool) {
		if !ok {
			t.Errorf("%s does not override the origin's value", name)
		}
	}
	if s := sec.StrictTransportSecurity; s != nil {
		v := fmt.Sprintf("max-age=%d", s.AccessControlMaxAgeSec)
		if s.IncludeSubdomains {
			v += "; includeSubDomains"
		}
		if s.Preload {
			v += "; preload"
		}
		h.Set("Strict-Transport-Security", v)
		override("Strict-Transport-Security", s.Override)
	}
	if s := sec.ContentSecurityPolicy; s != nil {
		h.Set("Content-Security-Policy", s.ContentSecurityPolicy)
		override("Content-Security-Policy", s.Override)
	}
	if s := sec.ContentTypeOptions; s != nil {
		h.Set("X-Content-Type-Options", "nosniff")
		override("X-Content-Type-Options", s.Override)
	}
	if s := sec.FrameOptions; s != nil {
		h.Set("X-Frame-Options", s.FrameOption)
		override("X-Frame-Options", s.Override)
	}
	if s := sec.ReferrerPolicy; s != nil {
		h.Set("Referrer-Policy", s.ReferrerPolicy)
		override("Referrer-Policy", s.Override)
	}
	for _, item := range cfg.CustomHeadersConfig.Items {
		if h.Get(item.Header) != "" {
			t.Errorf("custom header %s duplicates a security header", item.Header)
		}
		h.Set(item.Header, item.Value)
		override(item.Header, item.Override)
	}
	return h
}

// originHeaderValue returns the synthesized value of the origin verify header as JSON text.
func originHeaderValue(t *testing.T, tmpl assertions.Template) string {
	t.Helper()
	for _, d := range *tmpl.FindResources(jsii.String("AWS::CloudFront::Distribution"), nil) {
		raw, _ := json.Marshal(d)
		var dist struct {
			Properties struct {
				DistributionConfig struct {
					Origins []struct {
						OriginCustomHeaders []struct {
							HeaderName  string
							HeaderValue any
						}
					}
				}
			}
		}
		if err := json.Unmarshal(raw, &dist); err != nil {
			t.Fatal(err)
		}
		for _, o := range dist.Properties.DistributionConfig.Origins {
			for _, h := range o.OriginCustomHeaders {
				if h.HeaderName == edge.OriginVerifyHeader {
					v, _ := json.Marshal(h.HeaderValue)
					return string(v)
				}
			}
		}
	}
	t.Fatal("no origin sends " + edge.OriginVerifyHeader)
	return ""
}

func union(a, b http.Header) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func TestEdgeWithReplicaKeyAlias(t *testing.T) {
	// GIVEN the replica named by convention (alias ARN, as the standby stack's NewAssetReplica makes it)
	props := fullProps()
	props.ReplicaBucketArn = edge.ReplicaBucketArn("111111111111", "eu-central-1")
	props.ReplicaKeyArn = edge.ReplicaKeyAliasArn("111111111111", "eu-central-1")
	stack, tmpl := synth(t, props)

	// THEN the replication encrypts with the alias and the role may use only keys carrying it
	tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"ReplicationConfiguration": assertions.Match_ObjectLike(&map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
			"Destination": assertions.Match_ObjectLike(&map[string]any{
				"EncryptionConfiguration": map[string]any{"ReplicaKmsKeyID": "arn:aws:kms:eu-central-1:111111111111:alias/caro/assets-replica"},
			}),
		})}}),
	})
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			// AND (finding 3 of issue 22) the role may read the asset versions and replicate them
			assertions.Match_ObjectLike(&map[string]any{"Sid": "SourceObjectVersions",
				"Action": []any{"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"}}),
			assertions.Match_ObjectLike(&map[string]any{"Sid": "ReplicateIntoDestination",
				"Action":   []any{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"},
				"Resource": "arn:aws:s3:::caro-assets-replica-111111111111-eu-central-1/*"}),
			assertions.Match_ObjectLike(&map[string]any{
				"Sid":      "EncryptReplicasViaS3",
				"Action":   []any{"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"},
				"Effect":   "Allow",
				"Resource": "arn:aws:kms:eu-central-1:111111111111:key/*",
				"Condition": assertions.Match_ObjectLike(&map[string]any{
					"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": "alias/caro/assets-replica"},
					"StringEquals":             map[string]any{"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
				}),
			}),
		})}),
	})
	// AND the front end is published only once the role may replicate it
	for id, res := range *tmpl.FindResources(jsii.String("Custom::CDKBucketDeployment"), nil) {
		deps, _ := (*res)["DependsOn"].([]any)
		found := false
		for _, d := range deps {
			found = found || strings.HasPrefix(d.(string), "EdgeAssetsReplicationPolicy")
		}
		if !found {
			t.Errorf("%s does not wait for the replication policy (DependsOn %v)", id, deps)
		}
	}
	// AND the stack stays nag clean
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestAssetReplica(t *testing.T) {
	// GIVEN a standby-region stack WHEN the asset replica is added
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("StandbyTest"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("111111111111"), Region: jsii.String("eu-central-1")},
	})
	edge.NewAssetReplica(stack, "AssetReplica", nil)
	nagcheck.Apply(stack)
	tmpl := assertions.Template_FromStack(stack, nil)

	// THEN the bucket has the conventional name, is versioned, KMS-encrypted under the alias, private, logged
	tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"BucketName":              edge.ReplicaBucketName("111111111111", "eu-central-1"),
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{assertions.Match_ObjectLike(&map[string]any{
			"ServerSideEncryptionByDefault": assertions.Match_ObjectLike(&map[string]any{"SSEAlgorithm": "aws:kms"}),
		})}},
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"LogFilePrefix": "assets-replica/"}),
	})
	tmpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{"AliasName": "alias/" + edge.ReplicaKeyAlias})
	// AND CloudFront distributions of this account (only) may read it through OAC
	tmpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Action":    "s3:GetObject",
				"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
				"Condition": map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": "arn:aws:cloudfront::111111111111:distribution/*"}},
			}),
		})}),
	})
	// AND cdk-nag reports nothing unsuppressed
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestOriginSecretReference(t *testing.T) {
	// GIVEN no version THEN the reference names the stage AWSCURRENT
	if got, want := edge.OriginSecretReference(""), "{{resolve:secretsmanager:caro/edge/origin-verify:SecretString::AWSCURRENT}}"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// GIVEN a version ID THEN it goes in the version-id field, so the template changes with it
	v := "a1b2c3d4-0000-4000-8000-000000000002"
	if got, want := edge.OriginSecretReference(v), "{{resolve:secretsmanager:caro/edge/origin-verify:SecretString:::"+v+"}}"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// GIVEN something else THEN it is refused, saying where the version ID comes from
	if err := edge.ValidateOriginSecretVersion("AWSPREVIOUS"); err == nil || !strings.Contains(err.Error(), "list-secret-version-ids") {
		t.Errorf("err = %v", err)
	}
}

func TestResponseHeadersPolicyRendersAnyPolicy(t *testing.T) {
	// GIVEN a policy that differs from headers.Security() in every field
	policy := headers.Policy{
		HSTSMaxAgeSeconds: 300, ContentSecurityPolicy: "default-src 'self'", FrameOptions: "SAMEORIGIN",
		ContentTypeNoSniff: true, ReferrerPolicy: "no-referrer", Custom: map[string]string{"X-Test": "1"},
	}
	// WHEN it is rendered as a CloudFront response headers policy
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("HeadersTest"), nil)
	edge.NewResponseHeadersPolicy(stack, "Headers", policy)
	// THEN CloudFront would send exactly policy.Header(): the comparison is not tied to one policy
	got := responseHeaders(t, assertions.Template_FromStack(stack, nil))
	if want := policy.Header(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rendered %v, want %v", got, want)
	}
}

func TestEdgePublishesTheFrontEnd(t *testing.T) {
	// GIVEN the edge with the repository's web/ folder and a production config
	props := fullProps()
	props.WebDir = "../../web"
	props.WebConfig = map[string]interface{}{"apiBase": "/api", "tokenSource": "cognito"}

	// WHEN it is synthesized
	stack, tmpl := synth(t, props)

	// THEN every deploy copies the files to the asset bucket, prunes what was removed and
	// invalidates the distribution
	tmpl.HasResourceProperties(jsii.String("Custom::CDKBucketDeployment"), map[string]any{
		"Prune":                 true,
		"DistributionPaths":     []any{"/*"},
		"DestinationBucketName": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("AssetsBucket"))},
	})
	// AND the published files are web/ without Go sources or the development config.json, plus the
	// production config.json
	dir := *awscdk.Stage_Of(stack).Synth(nil).Directory()
	var configs []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(path)) != filepath.Base(dir) {
			switch name := d.Name(); {
			case name == "config.json":
				b, _ := os.ReadFile(path)
				configs = append(configs, string(b))
			case strings.HasSuffix(name, ".go"), name == "README.md":
				t.Errorf("%s would be published", name)
			}
		}
		return nil
	})
	if len(configs) != 1 || !strings.Contains(configs[0], `"tokenSource":"cognito"`) {
		t.Errorf("published config.json files = %q, want only the production one", configs)
	}
	// AND the CDK-provided deploy-time function is explained to cdk-nag
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
	}
}
