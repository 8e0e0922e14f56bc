package dns_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/dns"
	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func failoverStack(primary bool) (awscdk.Stack, assertions.Template) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String("Z123"), ZoneName: jsii.String("caro.health"),
	})
	dns.New(stack, "Dns", &dns.Props{Zone: zone, OriginName: "api-origin.caro.health", RegionalName: "api-eu-west-1.caro.health",
		Target: "d-abc.execute-api.eu-west-1.amazonaws.com", RegionalTarget: "d-reg.execute-api.eu-west-1.amazonaws.com", Region: "eu-west-1", Primary: primary})
	return stack, assertions.Template_FromStack(stack, nil)
}

func TestPrimaryRegionPublishesPrimaryRecordWithHealthCheck(t *testing.T) {
	// GIVEN the primary region WHEN its failover records are created
	stack, tpl := failoverStack(true)
	// THEN api-origin is a PRIMARY failover record with a TTL of at most 60 s and a health check
	tpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]interface{}{
		"Name": "api-origin.caro.health", "Type": "CNAME", "TTL": "60", "Failover": "PRIMARY",
		"SetIdentifier": "eu-west-1", "HealthCheckId": assertions.Match_AnyValue(),
		"ResourceRecords": []string{"d-abc.execute-api.eu-west-1.amazonaws.com"},
	})
	// AND api-eu-west-1 points at the regional domain's own target, not the failover domain's (API
	// Gateway serves a custom domain only on its own target)
	tpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]interface{}{
		"Name": "api-eu-west-1.caro.health", "Type": "CNAME", "ResourceRecords": []string{"d-reg.execute-api.eu-west-1.amazonaws.com"},
	})
	// AND the health check requests this region's /health over HTTPS through the regional name
	tpl.HasResourceProperties(jsii.String("AWS::Route53::HealthCheck"), map[string]interface{}{
		"HealthCheckConfig": assertions.Match_ObjectLike(&map[string]interface{}{
			"Type": "HTTPS", "FullyQualifiedDomainName": "api-eu-west-1.caro.health", "ResourcePath": "/api/health",
		}),
	})
	if f := nagcheck.Findings(stack); len(f) > 0 {
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestStandbyRegionPublishesSecondaryRecord(t *testing.T) {
	_, tpl := failoverStack(false)
	tpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), map[string]interface{}{
		"Name": "api-origin.caro.health", "Failover": "SECONDARY",
	})
}

func TestTTLAboveSixtySecondsIsRefused(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "exceeds 60 seconds") {
			t.Fatalf("want a panic naming the TTL limit, got %v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String("Z123"), ZoneName: jsii.String("caro.health"),
	})
	dns.New(stack, "Dns", &dns.Props{Zone: zone, OriginName: "a.caro.health", RegionalName: "b.caro.health", Target: "t", RegionalTarget: "r", Region: "eu-west-1", TTL: 300})
}
