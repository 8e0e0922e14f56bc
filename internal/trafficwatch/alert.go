package trafficwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// Alert is what on-call receives: enough to act, nothing personal. Subject and principal appear
// only as pseudonyms; request IDs lead to the full records in the access-controlled logs.
type Alert struct {
	// ID identifies the alert (rule, key, first time), so a re-delivered alert is recognisable.
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	Summary  string   `json:"summary"`
	Action   string   `json:"action"`
	// GroupBy and Key say what was counted: a pseudonym (address-…, principal-…), a queue, topic,
	// alarm or function name, or "api".
	GroupBy GroupBy `json:"groupBy"`
	Key     string  `json:"key"`
	Count   int     `json:"count"`
	// Threshold and WindowSeconds are the rule's, so the alert reads "Count >= Threshold in Window".
	Threshold     int       `json:"threshold"`
	WindowSeconds int       `json:"windowSeconds"`
	FirstSeen     time.Time `json:"firstSeen"`
	LastSeen      time.Time `json:"lastSeen"`
	RequestIDs    []string  `json:"requestIds,omitempty"`
	Region        string    `json:"region"`
	Source        Source    `json:"source"`
	// TenantID is the tenant claimed by the last request counted (an organisation ID, not a person).
	TenantID     string `json:"tenantId,omitempty"`
	Method       string `json:"httpMethod,omitempty"`
	ResourcePath string `json:"resourcePath,omitempty"`
	Status       int    `json:"status,omitempty"`
	// Detail is a fixed word: a pattern class, marker, alarm, function, queue or topic name.
	Detail string `json:"detail,omitempty"`
}

// SubjectLine renders the SNS subject (at most 100 ASCII characters, as SNS requires).
func (a Alert) SubjectLine() string {
	s := fmt.Sprintf("[caro %s] %s %s: %s x%d in %s", a.Region, a.Severity, a.Category, a.Rule, a.Count,
		time.Duration(a.WindowSeconds)*time.Second)
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > 100 {
		out = out[:100]
	}
	return out
}

// Publisher sends alerts to on-call.
type Publisher interface {
	Publish(ctx context.Context, a Alert) error
}

// SNSPublishAPI is the part of the SNS client the publisher uses.
type SNSPublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSPublisher publishes alerts to the on-call topic (CARO_ALERT_TOPIC_ARN). The message is the
// alert as JSON; rule, severity and category are also message attributes, so subscriptions can
// filter (page on critical, mail the rest).
type SNSPublisher struct {
	Client   SNSPublishAPI
	TopicARN string
}

// Publish implements Publisher.
func (p SNSPublisher) Publish(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = p.Client.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.TopicARN),
		Subject:  aws.String(a.SubjectLine()),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"rule":     str(a.Rule),
			"severity": str(string(a.Severity)),
			"category": str(string(a.Category)),
		},
	})
	if err != nil {
		return fmt.Errorf("publish alert %s (%s) to %s: %w", a.ID, a.Rule, p.TopicARN, err)
	}
	return nil
}
