// Package readiness is the scheduled readiness check: in the standby region, every 30 minutes, it
// runs every check a failover plan runs (failover.Readiness through the AWS provider) and
// publishes one CloudWatch metric per check and the count of blockers, on which the on-call alarm
// fires. AWS's Region switch evaluates its plans like this but has no step for Atlas or Cognito;
// this one checks what this platform's failover needs.
package readiness

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/carohealth/platform/internal/failover"
)

// Namespace and metric names the readiness function publishes (constructs/readiness alarms on
// MetricBlockers; dimension DimensionRegion is the standby region).
const (
	Namespace       = "Caro/Readiness"
	DimensionRegion = "Region"
	DimensionCheck  = "Check"
	MetricBlockers  = "Blockers"
	MetricWarnings  = "Warnings"
	// MetricCheckStatus is per check: 0 ok, 1 warning, 2 blocker (the worst of its results).
	MetricCheckStatus = "CheckStatus"
	// MetricCheckValue is a check's measure (an age or a lag, in seconds) where it has one.
	MetricCheckValue = "CheckValue"
)

// MetricsAPI is the part of CloudWatch the function uses.
type MetricsAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// Run checks whether req.To can take over from req.From and publishes the result. It returns the
// report; an error only when the metrics could not be published (the alarm then sees missing data,
// which it treats as breaching).
func Run(ctx context.Context, prov failover.Provider, req failover.Request, cw MetricsAPI, now time.Time) (*failover.ReadinessReport, error) {
	rep := failover.Readiness(ctx, prov, req, now)
	data := Metrics(rep)
	// PutMetricData takes up to 1,000 data points per call; a report has a few dozen.
	if _, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(Namespace), MetricData: data}); err != nil {
		return rep, fmt.Errorf("publishing the readiness of %s to CloudWatch (%s): %w", req.To, Namespace, err)
	}
	return rep, nil
}

// Metrics turns a report into CloudWatch data points.
func Metrics(rep *failover.ReadinessReport) []cwtypes.MetricDatum {
	at := aws.Time(rep.CheckedAt)
	region := cwtypes.Dimension{Name: aws.String(DimensionRegion), Value: aws.String(rep.To)}
	datum := func(name string, v float64, unit cwtypes.StandardUnit, dims ...cwtypes.Dimension) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Unit: unit, Timestamp: at, Dimensions: append([]cwtypes.Dimension{region}, dims...)}
	}
	out := []cwtypes.MetricDatum{
		datum(MetricBlockers, float64(rep.Blockers), cwtypes.StandardUnitCount),
		datum(MetricWarnings, float64(rep.Warnings), cwtypes.StandardUnitCount),
	}
	worst := map[string]float64{}
	var order []string
	values := map[string]float64{}
	for _, c := range rep.Checks {
		if _, seen := worst[c.Name]; !seen {
			order = append(order, c.Name)
		}
		worst[c.Name] = max(worst[c.Name], statusValue(c.Status))
		if c.Value != nil {
			values[c.Name] = *c.Value
		}
	}
	for _, name := range order {
		check := cwtypes.Dimension{Name: aws.String(DimensionCheck), Value: aws.String(name)}
		out = append(out, datum(MetricCheckStatus, worst[name], cwtypes.StandardUnitNone, check))
		if v, ok := values[name]; ok {
			out = append(out, datum(MetricCheckValue, v, cwtypes.StandardUnitSeconds, check))
		}
	}
	return out
}

func statusValue(s failover.CheckStatus) float64 {
	switch s {
	case failover.CheckBlocker:
		return 2
	case failover.CheckWarning:
		return 1
	}
	return 0
}
