// Package retention schedules a region's retention job: the function (lambdas/retention) that
// erases every patient record whose retention ended, daily, with the region's retentionYears, and
// the alarms that tell on-call when it fails or does not run.
package retention

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/monitoring"
)

// DefaultYears is the retention when Props.RetentionYears is 0 (the region definition's default).
const DefaultYears = 9

// EnvRetentionYears is the function's setting of the region's retention (internal/retention reads
// the same name).
const EnvRetentionYears = "CARO_RETENTION_YEARS"

// Props configure the retention job.
type Props struct {
	// Function is the retention function (lambdas/retention), built with the database's connection
	// secret. Required.
	Function awslambda.Function
	// RetentionYears is the region's retentionYears (1 to 100; 0: DefaultYears).
	RetentionYears int
	// AlarmTopic receives the job's alarms. Required.
	AlarmTopic awssns.ITopic
	// Schedule defaults to daily at 03:30 UTC (after the 02:15 backup).
	Schedule awsevents.Schedule
}

// Retention is the scheduled job.
type Retention struct {
	constructs.Construct
	// Rule invokes the function with {"mode":"expire"}.
	Rule awsevents.Rule
	// Failed fires on any error of a day; Missing when the job did not run for two days.
	Failed, Missing awscloudwatch.Alarm
	// Years is the retention the job applies.
	Years int
}

// New schedules props.Function daily with the region's retention.
func New(scope constructs.Construct, id string, props *Props) *Retention {
	if props == nil || props.Function == nil || props.AlarmTopic == nil {
		panic("retention.New: Props.Function and Props.AlarmTopic are required")
	}
	years := props.RetentionYears
	if years == 0 {
		years = DefaultYears
	}
	if years < 1 || years > 100 {
		panic(fmt.Sprintf("retention.New: RetentionYears %d: give 1 to 100 (retentionYears in regions/<region>.json)", years))
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	r := &Retention{Construct: c, Years: years}
	props.Function.AddEnvironment(jsii.String(EnvRetentionYears), jsii.String(fmt.Sprint(years)), nil)

	schedule := props.Schedule
	if schedule == nil {
		schedule = awsevents.Schedule_Cron(&awsevents.CronOptions{Minute: jsii.String("30"), Hour: jsii.String("3")})
	}
	r.Rule = awsevents.NewRule(c, jsii.String("Daily"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("Erase patient records whose %d-year retention ended (docs/data-lifecycle.md)", years)),
		Schedule:    schedule,
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(props.Function, &awseventstargets.LambdaFunctionProps{
			Event:         awsevents.RuleTargetInput_FromObject(map[string]interface{}{"mode": "expire"}),
			RetryAttempts: jsii.Number(2),
			MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
		})},
	})

	day := awscdk.Duration_Days(jsii.Number(1))
	alarm := func(id, description string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, periods float64, missing awscloudwatch.TreatMissingData) awscloudwatch.Alarm {
		return monitoring.OnCallAlarm(c, id, props.AlarmTopic, description, metric, op, 1, periods, missing)
	}
	r.Failed = alarm("Failed", "The retention job failed: records whose retention ended stay until it succeeds (its logs say why; it is idempotent, so the next run catches up)",
		props.Function.MetricErrors(&awscloudwatch.MetricOptions{Period: day, Statistic: jsii.String("Sum")}),
		awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
	r.Missing = alarm("Missing", "The retention job did not run for two days: check its Daily rule and function",
		props.Function.MetricInvocations(&awscloudwatch.MetricOptions{Period: day, Statistic: jsii.String("Sum")}),
		awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, 2, awscloudwatch.TreatMissingData_BREACHING)
	return r
}
