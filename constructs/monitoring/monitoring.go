// Package monitoring is the platform's on-call wiring: a KMS-encrypted on-call topic, alarms on
// Lambda errors and throttles, API 5xx rate and p99 latency, and dead-letter queue depth, and one
// dashboard per region.
package monitoring

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/messaging"
)

// Props configures monitoring.
type Props struct {
	// Key encrypts the on-call topic; CloudWatch must be allowed to use it.
	Key awskms.IKey
	// AlertEmail is subscribed to the on-call topic.
	AlertEmail string
	// DashboardName names the dashboard.
	DashboardName string
	// API5xxRate is the share of 5xx responses (0-1) that alarms; default 0.01.
	API5xxRate float64
	// APIP99LatencyMillis alarms when p99 latency exceeds it; default 2000.
	APIP99LatencyMillis float64
}

// Monitoring holds the on-call topic and dashboard; Watch* add alarms and widgets.
type Monitoring struct {
	// OnCall receives every alarm of the region.
	OnCall awssns.Topic
	// Alarms also receives every alarm, for the traffic watcher: it correlates them with what it sees
	// in the logs and topics. On-call gets each alarm directly too, so a broken watcher hides nothing.
	Alarms    *messaging.Topic
	Dashboard awscloudwatch.Dashboard
	props     Props
	scope     constructs.Construct
	actions   []awscloudwatch.IAlarmAction
}

// New creates the on-call topic (KMS-encrypted, TLS-only, e-mail subscription) and the dashboard.
func New(scope constructs.Construct, id string, props *Props) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	p := *props
	if p.API5xxRate == 0 {
		p.API5xxRate = 0.01
	}
	if p.APIP99LatencyMillis == 0 {
		p.APIP99LatencyMillis = 2000
	}
	topic := awssns.NewTopic(c, jsii.String("OnCall"), &awssns.TopicProps{
		DisplayName: jsii.String("Caro on-call"),
		MasterKey:   p.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlertEmail), nil))
	alarms := messaging.NewTopic(c, "Alarms", &messaging.TopicProps{Key: p.Key, DisplayName: "Caro alarms for the traffic watcher"})
	// Every alarm of the region notifies both topics (also the alarms of constructs/gofunction, ledger
	// and backup, which get OnCall as their AlarmTopic).
	messaging.AllowAlarms(topic)
	messaging.AllowAlarms(alarms.Topic)
	dash := awscloudwatch.NewDashboard(c, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(p.DashboardName),
	})
	return &Monitoring{OnCall: topic, Alarms: alarms, Dashboard: dash, props: p, scope: c,
		actions: []awscloudwatch.IAlarmAction{awscloudwatchactions.NewSnsAction(topic), awscloudwatchactions.NewSnsAction(alarms.Topic)}}
}

func (m *Monitoring) alarm(id string, props *awscloudwatch.AlarmProps) awscloudwatch.Alarm {
	if props.TreatMissingData == "" {
		props.TreatMissingData = awscloudwatch.TreatMissingData_NOT_BREACHING
	}
	a := awscloudwatch.NewAlarm(m.scope, jsii.String(id), props)
	a.AddAlarmAction(m.actions...)
	a.AddOkAction(m.actions[0])
	return a
}

// WatchFunction puts a function's invocations, errors and throttles on the dashboard. (Its error and
// throttle alarms come with constructs/gofunction.)
func (m *Monitoring) WatchFunction(name string, fn awslambda.IFunction) {
	period := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	m.Dashboard.AddWidgets(awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String("Lambda " + name),
		Left:  &[]awscloudwatch.IMetric{fn.MetricInvocations(period), fn.MetricErrors(period), fn.MetricThrottles(period)},
	}))
}

// WatchQueue alarms as soon as a dead-letter queue holds a message: each one is a lost delivery
// waiting for a human.
func (m *Monitoring) WatchQueue(id string, queue awssqs.IQueue) awscloudwatch.Alarm {
	metric := queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
	})
	m.Dashboard.AddWidgets(awscloudwatch.NewSingleValueWidget(&awscloudwatch.SingleValueWidgetProps{
		Title: jsii.String("DLQ " + id), Metrics: &[]awscloudwatch.IMetric{metric},
	}))
	return m.alarm(id+"DepthAlarm", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("Dead-letter queue %s holds undelivered messages: inspect and redrive them", id)),
		Metric:             metric,
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
	})
}

// WatchAPI alarms on the API's 5xx rate and p99 latency.
func (m *Monitoring) WatchAPI(api awsapigateway.RestApiBase) (fiveXX, latency awscloudwatch.Alarm) {
	period := awscdk.Duration_Minutes(jsii.Number(5))
	rate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(requests > 0, errors / requests, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"errors":   api.MetricServerError(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
			"requests": api.MetricCount(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}),
		},
		Label:  jsii.String("5xx rate"),
		Period: period,
	})
	p99 := api.MetricLatency(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("p99")})
	m.Dashboard.AddWidgets(
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("API 5xx rate"), Left: &[]awscloudwatch.IMetric{rate}}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("API p99 latency"), Left: &[]awscloudwatch.IMetric{p99}}),
	)
	fiveXX = m.alarm("Api5xxRate", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("API 5xx responses above %.1f%% of requests", m.props.API5xxRate*100)),
		Metric:             rate,
		Threshold:          jsii.Number(m.props.API5xxRate),
		EvaluationPeriods:  jsii.Number(2),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
	})
	latency = m.alarm("ApiP99Latency", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("API p99 latency above %.0f ms", m.props.APIP99LatencyMillis)),
		Metric:             p99,
		Threshold:          jsii.Number(m.props.APIP99LatencyMillis),
		EvaluationPeriods:  jsii.Number(3),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
	})
	return fiveXX, latency
}

// OnCallAlarm is an alarm that pages on-call (topic) when it fires: the one way the platform's job
// constructs (backups, the backup engine, retention) raise a page.
func OnCallAlarm(c constructs.Construct, id string, topic awssns.ITopic, description string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, threshold, periods float64, missing awscloudwatch.TreatMissingData) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(description), Metric: metric, Threshold: jsii.Number(threshold),
		EvaluationPeriods: jsii.Number(periods), ComparisonOperator: op, TreatMissingData: missing,
	})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
	return a
}
