// Package dns is the regional half of DNS failover: each region publishes its own record for the
// shared API origin name (PRIMARY in the primary region, SECONDARY in the standby), guarded by a
// Route 53 health check on that region's /health. Route 53 then answers with the healthy region from
// its data plane, with no control-plane change needed during an outage.
package dns

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// MaxTTL is the longest TTL a failover record may have: resolvers must follow a failover within a
// minute.
const MaxTTL = 60

// Props configures the regional failover records.
type Props struct {
	// Zone is the public hosted zone of the domain.
	Zone awsroute53.IHostedZone
	// OriginName is the failover name, api-origin.<domain>.
	OriginName string
	// RegionalName is api-<region>.<domain>, which always points at this region.
	RegionalName string
	// Target is the regional target of this region's OriginName custom domain
	// (d-....execute-api.<region>.amazonaws.com), which the failover record points at.
	Target string
	// RegionalTarget is the regional target of the RegionalName custom domain, which the regional
	// record points at: API Gateway serves a custom domain only on its own target, so a name must
	// resolve to the target of the domain it is configured as.
	RegionalTarget string
	// Region is the AWS region; it is the record's set identifier.
	Region string
	// Primary selects the PRIMARY failover role; otherwise SECONDARY.
	Primary bool
	// HealthPath is the path the health check requests, default /api/health.
	HealthPath string
	// TTL of the records in seconds, at most MaxTTL; default MaxTTL.
	TTL float64
}

// Failover holds the records and the health check.
type Failover struct {
	HealthCheck    awsroute53.CfnHealthCheck
	OriginRecord   awsroute53.CfnRecordSet
	RegionalRecord awsroute53.CfnRecordSet
}

// New creates the regional record, the health check and this region's failover record.
func New(scope constructs.Construct, id string, props *Props) *Failover {
	c := constructs.NewConstruct(scope, jsii.String(id))
	ttl := props.TTL
	if ttl == 0 {
		ttl = MaxTTL
	}
	if props.Target == "" || props.RegionalTarget == "" {
		panic(fmt.Sprintf("dns %s: Target and RegionalTarget are required (the regional targets of the origin and regional custom domains)", id))
	}
	if ttl > MaxTTL {
		panic(fmt.Sprintf("dns %s: TTL %v exceeds %d seconds: a failover would take longer to reach clients", id, ttl, MaxTTL))
	}
	path := props.HealthPath
	if path == "" {
		path = "/api/health"
	}
	ttlText := jsii.String(fmt.Sprintf("%.0f", ttl))
	regional := awsroute53.NewCfnRecordSet(c, jsii.String("RegionalRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId:    props.Zone.HostedZoneId(),
		Name:            jsii.String(props.RegionalName),
		Type:            jsii.String("CNAME"),
		Ttl:             ttlText,
		ResourceRecords: jsii.Strings(props.RegionalTarget),
	})
	check := awsroute53.NewCfnHealthCheck(c, jsii.String("HealthCheck"), &awsroute53.CfnHealthCheckProps{
		HealthCheckConfig: &awsroute53.CfnHealthCheck_HealthCheckConfigProperty{
			Type:                     jsii.String("HTTPS"),
			FullyQualifiedDomainName: jsii.String(props.RegionalName),
			Port:                     jsii.Number(443),
			ResourcePath:             jsii.String(path),
			EnableSni:                jsii.Bool(true),
			RequestInterval:          jsii.Number(10),
			FailureThreshold:         jsii.Number(3),
		},
		HealthCheckTags: &[]*awsroute53.CfnHealthCheck_HealthCheckTagProperty{
			{Key: jsii.String("Name"), Value: jsii.String("caro-api-" + props.Region)},
		},
	})
	role := "SECONDARY"
	if props.Primary {
		role = "PRIMARY"
	}
	origin := awsroute53.NewCfnRecordSet(c, jsii.String("FailoverRecord"), &awsroute53.CfnRecordSetProps{
		HostedZoneId:    props.Zone.HostedZoneId(),
		Name:            jsii.String(props.OriginName),
		Type:            jsii.String("CNAME"),
		Ttl:             ttlText,
		ResourceRecords: jsii.Strings(props.Target),
		SetIdentifier:   jsii.String(props.Region),
		Failover:        jsii.String(role),
		HealthCheckId:   check.AttrHealthCheckId(),
	})
	return &Failover{HealthCheck: check, OriginRecord: origin, RegionalRecord: regional}
}
