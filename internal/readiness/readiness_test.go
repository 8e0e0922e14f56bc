package readiness_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/readiness"
)

type surveyed struct{ s failover.Survey }

func (p surveyed) Name() string { return "fake" }
func (p surveyed) Survey(context.Context, failover.Request) (*failover.Survey, error) {
	s := p.s
	return &s, nil
}
func (surveyed) Steps(context.Context, *failover.Plan) ([]failover.Step, error) { return nil, nil }

type metricsFake struct {
	in  *cloudwatch.PutMetricDataInput
	err error
}

func (m *metricsFake) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	m.in = in
	return &cloudwatch.PutMetricDataOutput{}, m.err
}

func TestRunPublishesTheBlockersAndEveryCheck(t *testing.T) {
	// GIVEN a standby with a blocker, a warning with a measure and a passed check
	var s failover.Survey
	s.OK("credentials", "acting as the readiness function")
	s.Block("user-pool", "cannot be read")
	s.Warn("backup-age", "30h old")
	s.Measure("backup-age", 30*3600)
	cw := &metricsFake{}
	now := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	// WHEN the scheduled check runs
	rep, err := readiness.Run(context.Background(), surveyed{s}, failover.Request{From: "eu-west-1", To: "eu-central-1"}, cw, now)
	if err != nil || rep.Ready {
		t.Fatalf("run: %v, ready %t", err, rep.Ready)
	}
	// THEN it publishes the blocker count, each check's status and the measure, for the standby
	got := map[string]float64{}
	for _, d := range cw.in.MetricData {
		key := aws.ToString(d.MetricName)
		for _, dim := range d.Dimensions {
			if aws.ToString(dim.Name) == readiness.DimensionRegion && aws.ToString(dim.Value) != "eu-central-1" {
				t.Errorf("%s: region %s", key, aws.ToString(dim.Value))
			}
			if aws.ToString(dim.Name) == readiness.DimensionCheck {
				key += "/" + aws.ToString(dim.Value)
			}
		}
		if !aws.ToTime(d.Timestamp).Equal(now) {
			t.Errorf("%s timestamp %v", key, d.Timestamp)
		}
		got[key] = aws.ToFloat64(d.Value)
	}
	want := map[string]float64{"Blockers": 1, "Warnings": 1, "CheckStatus/credentials": 0, "CheckStatus/user-pool": 2, "CheckStatus/backup-age": 1, "CheckValue/backup-age": 108000}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %t), want %v", k, g, ok, v)
		}
	}
	if aws.ToString(cw.in.Namespace) != readiness.Namespace || len(got) != len(want) {
		t.Errorf("namespace %s, metrics %v", aws.ToString(cw.in.Namespace), got)
	}
}

func TestAFailedPublishIsAnError(t *testing.T) {
	cw := &metricsFake{err: errors.New("AccessDenied")}
	_, err := readiness.Run(context.Background(), surveyed{}, failover.Request{From: "eu-west-1", To: "eu-central-1"}, cw, time.Now())
	if err == nil || !strings.Contains(err.Error(), "Caro/Readiness") {
		t.Fatalf("err = %v", err)
	}
}
