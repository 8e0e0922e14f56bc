package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	caroconfig "github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
)

// EnvAuditTopicARN is the environment override of the setting audit-topic-arn (contracts.md); when
// it is set, the events a command wrote are also published right away, otherwise the API's
// reconciler publishes them from the database within its schedule.
const EnvAuditTopicARN = "CARO_AUDIT_TOPIC_ARN"

// auditTopic is the audit topic the CLI publishes its events to ("": none), the setting
// audit-topic-arn's environment override. Commands do not look the stack output up for it: the
// events are stored pending either way, and the reconciler publishes them.
func auditTopic() string {
	topic, _ := caroconfig.LookupEnv(EnvAuditTopicARN)
	return topic
}

// operatorIdentity names who runs the CLI, for the actor of its audit events: the AWS caller
// identity when AWS credentials are configured and STS answers, else the OS login, each
// pseudonymous (audit.AWSCallerActor, osUserActor). Tests replace it.
var operatorIdentity = func(ctx context.Context, region string) string {
	if arn, err := (&awscloud.Cloud{}).CallerARN(ctx, region); err == nil {
		return audit.AWSCallerActor(arn)
	}
	return osUserActor()
}

// osUserActor is the actor when no AWS identity is available: the OS login, pseudonymous.
func osUserActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return audit.PseudonymousActor("os-user", u.Username)
	}
	if n, ok := caroconfig.LookupEnv("USER"); ok {
		return audit.PseudonymousActor("os-user", n)
	}
	return fmt.Sprintf("os-user:uid-%d", os.Getuid())
}

// commandOrigin is the audit origin of one command run: the operator, the interface (cli, or job
// when the failover runs the change) and a fresh request ID shared by every event of the run.
func commandOrigin(ctx context.Context, region string, iface audit.Interface) audit.Origin {
	return audit.Origin{Actor: operatorIdentity(ctx, region), Interface: iface, RequestID: audit.NewEventID()}
}

// newAuditPublisher builds the inline publisher for the topic; tests replace it.
var newAuditPublisher = func(ctx context.Context, region, topic string) (audit.Publisher, error) {
	client, err := (&awscloud.Cloud{}).SNS(ctx, region)
	if err != nil {
		return nil, err
	}
	return &audit.SNSPublisher{Client: client, TopicARN: topic}, nil
}

// deliverAuditEvents publishes the events a command wrote when CARO_AUDIT_TOPIC_ARN is set, and
// says on w what happened. The events are already stored (pending) with their changes, so any
// failure here is a warning: the reconciler publishes what is still pending. unstored is an event
// that could not be stored (the restore log write failed): it can only be published directly.
func deliverAuditEvents(ctx context.Context, w io.Writer, region string, db *mongo.Database, events []audit.Written, unstored *audit.Event) {
	topic := auditTopic()
	if topic == "" {
		if len(events) > 0 {
			fmt.Fprintf(w, "audit: %d events stored pending with the changes; the API's reconciler publishes them (set %s to publish them now)\n", len(events), EnvAuditTopicARN)
		}
		if unstored != nil {
			fmt.Fprintf(w, "WARNING: audit event %s could not be stored and %s is not set: re-run with %s set, or record it by hand\n", unstored.ID, EnvAuditTopicARN, EnvAuditTopicARN)
		}
		return
	}
	pub, err := newAuditPublisher(ctx, region, topic)
	if err != nil {
		fmt.Fprintf(w, "warning: audit events not published now (%v); they stay pending for the reconciler\n", err)
		return
	}
	if unstored != nil {
		if err := pub.Publish(ctx, *unstored); err != nil {
			fmt.Fprintf(w, "WARNING: audit event %s could not be stored nor published: %v\n", unstored.ID, err)
		} else {
			fmt.Fprintf(w, "audit: event %s published directly\n", unstored.ID)
		}
	}
	if len(events) == 0 {
		return
	}
	n, err := audit.DeliverWritten(ctx, pub, db, events)
	if err != nil {
		fmt.Fprintf(w, "warning: %v\n", err)
	}
	fmt.Fprintf(w, "audit: %d of %d events published to %s\n", n, len(events), topic)
}

// connectTarget connects to a MongoDB URI for the CLI's own writes; close releases it.
func connectTarget(ctx context.Context, uri string) (client *mongo.Client, close func(), err error) {
	client, err = mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", redactURI(uri), err)
	}
	return client, func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }, nil
}

// auditSnapshotRestore audits an Atlas snapshot restore: its backup:restore event is stored in the
// restored database's restore log (uri set) and published inline when CARO_AUDIT_TOPIC_ARN is set.
// Without a URI, or when the write fails, the event can only be published directly (w says so).
func auditSnapshotRestore(ctx context.Context, w io.Writer, uri, database, region string, res atlas.RestoreResult, origin audit.Origin) {
	ev := backup.SnapshotRestoreEvent(origin, res.SnapshotID, res.RestoreJobID, time.Now())
	if uri != "" {
		client, closeClient, err := connectTarget(ctx, uri)
		if err == nil {
			defer closeClient()
			db := client.Database(database)
			var written audit.Written
			written, err = backup.RecordSnapshotRestore(ctx, db, ev, res.SnapshotID, res.RestoreJobID, res.SnapshotTime)
			if err == nil {
				deliverAuditEvents(ctx, w, region, db, []audit.Written{written}, nil)
				return
			}
		}
		fmt.Fprintf(w, "warning: the snapshot restore's audit event could not be stored: %v\n", err)
	}
	deliverAuditEvents(ctx, w, region, nil, nil, &ev)
}
