package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// Publisher sends one audit event to the audit topic. Implementations must be safe to call again
// with the same event: delivery is at least once, and consumers deduplicate by Event.ID.
type Publisher interface {
	Publish(ctx context.Context, ev Event) error
}

// SNSPublishAPI is the part of the SNS client the publisher uses (an *sns.Client satisfies it).
type SNSPublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSPublisher publishes events as JSON to the KMS-encrypted audit SNS topic. The message attributes
// (eventId, action, resourceType, interface, tenantId) let subscribers filter without parsing the
// body; none of them is personal data.
type SNSPublisher struct {
	// Client is the SNS client.
	Client SNSPublishAPI
	// TopicARN is the audit topic (env CARO_AUDIT_TOPIC_ARN).
	TopicARN string
}

// Publish validates ev and publishes it. A refused event is an error, never silently dropped.
func (p *SNSPublisher) Publish(ctx context.Context, ev Event) error {
	if p.TopicARN == "" {
		return fmt.Errorf("publish audit event %s: no audit topic configured (set CARO_AUDIT_TOPIC_ARN)", ev.ID)
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("publish audit event: %w", err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish audit event %s: encode: %w", ev.ID, err)
	}
	attr := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = p.Client.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.TopicARN),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"eventId":      attr(ev.ID),
			"action":       attr(ev.Action),
			"resourceType": attr(ev.ResourceType),
			"interface":    attr(string(ev.Interface)),
			"tenantId":     attr(ev.TenantID),
		},
	})
	if err != nil {
		return fmt.Errorf("publish audit event %s to %s: %w", ev.ID, p.TopicARN, err)
	}
	return nil
}
