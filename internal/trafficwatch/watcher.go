package trafficwatch

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/strictjson"
)

// MaxLogBatchBytes bounds a decompressed CloudWatch Logs batch (the compressed payload is at most
// about 1 MB; this refuses a decompression bomb).
const MaxLogBatchBytes = 64 << 20

// Watcher applies the rules to observations and publishes the alerts.
type Watcher struct {
	Rules      []Rule
	Counter    Counter
	Publisher  Publisher
	Pseudonyms *Pseudonymizer
	// Region is put into every alert (CARO_REGION).
	Region string
	// AlertTopicARN is the on-call topic: notifications from it are ignored (no alert loops).
	AlertTopicARN string
	// AuditTopicARN is the audit topic (CARO_AUDIT_TOPIC_ARN): its messages must be valid audit
	// events.
	AuditTopicARN string
	// Log receives one summary line per invocation and parse problems (never message contents).
	Log io.Writer
	// Now is the clock for events without a time of their own; nil means time.Now.
	Now func() time.Time
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Watcher) logf(format string, args ...interface{}) {
	if w.Log != nil {
		fmt.Fprintf(w.Log, "trafficwatch: "+format+"\n", args...)
	}
}

// Evaluate applies every rule to every observation, in order, and returns the alerts raised. A
// rule raises at most one alert per key per window. The claims of the returned alerts are held:
// call Publish (or Release them) afterwards.
func (w *Watcher) Evaluate(ctx context.Context, obs []Observation) ([]Alert, error) {
	var alerts []Alert
	for _, o := range obs {
		for _, r := range w.Rules {
			if !r.When(o) {
				continue
			}
			key := w.key(r.GroupBy, o)
			if key == "" {
				continue
			}
			counterKey := r.ID + "|" + key
			tally, err := w.Counter.Observe(ctx, counterKey, Event{ID: o.EventID, Time: o.Time, RequestID: o.RequestID}, r.Window)
			if err != nil {
				return alerts, fmt.Errorf("count %s: %w", r.ID, err)
			}
			if tally.Count < r.Threshold {
				continue
			}
			ok, err := w.Counter.Claim(ctx, counterKey, o.Time, r.Window)
			if err != nil {
				return alerts, fmt.Errorf("claim alert %s: %w", r.ID, err)
			}
			if !ok {
				continue
			}
			alerts = append(alerts, w.alert(r, key, o, tally))
		}
	}
	return alerts, nil
}

// key returns what rule r counts o under: a pseudonym for addresses and principals, so the counter
// (possibly a shared store) never holds them in the clear.
func (w *Watcher) key(g GroupBy, o Observation) string {
	switch g {
	case ByAddress:
		return w.Pseudonyms.Pseudonym("address", o.Address)
	case ByPrincipal:
		return w.Pseudonyms.Pseudonym("principal", o.Principal)
	case ByQueue:
		return safeWord(o.Queue)
	case ByTopic:
		return safeWord(o.Topic)
	case ByDetail:
		return safeWord(o.Detail)
	case ByAPI:
		return "api"
	}
	return ""
}

func (w *Watcher) alert(r Rule, key string, o Observation, t Tally) Alert {
	sum := sha256.Sum256([]byte(r.ID + "|" + key + "|" + t.First.UTC().Format(time.RFC3339Nano)))
	a := Alert{
		ID: hex.EncodeToString(sum[:8]), Rule: r.ID, Category: r.Category, Severity: r.Severity,
		Summary: r.Summary, Action: r.Action, GroupBy: r.GroupBy, Key: key,
		Count: t.Count, Threshold: r.Threshold, WindowSeconds: int(r.Window / time.Second),
		FirstSeen: t.First.UTC(), LastSeen: t.Last.UTC(), RequestIDs: t.RequestIDs,
		Region: w.Region, Source: o.Source, TenantID: safeWord(o.Tenant), Method: safeWord(o.Method),
		ResourcePath: safeWord(o.ResourcePath), Status: o.Status,
	}
	switch {
	case o.Source == SourceAccessLog && r.ID == "injection-attempt":
		a.Detail, _ = DetectInjection(o.Path)
	case o.Source == SourceAPISignal:
		a.Detail = o.Marker
		if d := knownDetail(o.Detail); d != "" {
			a.Detail += ": " + d
		}
	case o.Source == SourceAccessLog && o.WAFBlocked:
		a.Detail = WAFBlock
	default:
		a.Detail = safeWord(firstNonEmpty(o.Detail, o.Queue, o.Topic))
	}
	return a
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// safeWord keeps identifiers of our own making (names, IDs, route templates) printable and short.
func safeWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
		if b.Len() >= 128 {
			break
		}
	}
	return b.String()
}

// Publish sends the alerts. An alert that cannot be sent has its claim released, so a retry of the
// invocation (which counts nothing twice) raises it again; the joined error says which failed.
func (w *Watcher) Publish(ctx context.Context, alerts []Alert) error {
	var errs []error
	for _, a := range alerts {
		if err := w.Publisher.Publish(ctx, a); err != nil {
			errs = append(errs, err)
			if rerr := w.Counter.Release(ctx, a.Rule+"|"+a.Key); rerr != nil {
				errs = append(errs, rerr)
			}
		}
	}
	return errors.Join(errs...)
}

// HandleEvent is the Lambda entry point: it reads an SNS, SQS or CloudWatch Logs event, evaluates
// the rules and publishes the alerts. It returns an error only when an alert could not be
// published, so Lambda retries the invocation; malformed lines are logged and skipped.
func (w *Watcher) HandleEvent(ctx context.Context, raw json.RawMessage) error {
	obs, skipped, err := w.Observations(raw)
	if err != nil {
		return err
	}
	// Alerts raised before an evaluation error are still published: their claims are held.
	alerts, eerr := w.Evaluate(ctx, obs)
	perr := w.Publish(ctx, alerts)
	w.logf("%d observations, %d skipped, %d alerts, evaluation error: %v, publish error: %v",
		len(obs), skipped, len(alerts), eerr != nil, perr != nil)
	return errors.Join(eerr, perr)
}

// ObserveAccess evaluates one access record as if it had arrived in a log batch and publishes the
// alerts it raises. The local runner feeds every request through it, so the rules run locally too.
func (w *Watcher) ObserveAccess(ctx context.Context, rec AccessRecord, at time.Time) error {
	o, err := accessObservation(rec, at)
	if err != nil {
		return err
	}
	alerts, eerr := w.Evaluate(ctx, []Observation{o})
	return errors.Join(eerr, w.Publish(ctx, alerts))
}

// ObserveLogLine evaluates one log line (an access record or a security signal line, as they arrive
// through a log subscription) and publishes the alerts it raises; other lines are ignored. The local
// runner feeds the API handler's log through it, so signal rules run locally too.
func (w *Watcher) ObserveLogLine(ctx context.Context, line string, at time.Time) error {
	o, ok, err := parseLogMessage(line, at)
	if err != nil || !ok {
		return err
	}
	alerts, eerr := w.Evaluate(ctx, []Observation{o})
	return errors.Join(eerr, w.Publish(ctx, alerts))
}

// Observations turns one Lambda event into observations. skipped counts records that could not be
// read (logged without their content).
func (w *Watcher) Observations(raw json.RawMessage) (obs []Observation, skipped int, err error) {
	var env struct {
		Records []json.RawMessage `json:"Records"`
		AWSLogs *struct {
			Data string `json:"data"`
		} `json:"awslogs"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, 0, fmt.Errorf("event is not JSON: %w", err)
	}
	switch {
	case env.AWSLogs != nil:
		return w.logObservations(env.AWSLogs.Data)
	case len(env.Records) > 0:
		for i, rec := range env.Records {
			var probe struct {
				EventSource string `json:"eventSource"` // SQS; SNS spells it EventSource (matched case-insensitively)
			}
			if err := json.Unmarshal(rec, &probe); err != nil {
				skipped++
				w.logf("record %d is not JSON", i)
				continue
			}
			var o Observation
			var ok bool
			switch probe.EventSource {
			case "aws:sns":
				o, ok, err = w.snsObservation(rec)
			case "aws:sqs":
				o, ok, err = w.sqsObservation(rec)
			default:
				err = fmt.Errorf("unknown event source %q", safeWord(probe.EventSource))
			}
			if err != nil {
				skipped++
				w.logf("record %d skipped: %v", i, err)
				continue
			}
			if ok {
				obs = append(obs, o)
			}
		}
		return obs, skipped, nil
	}
	return nil, 0, errors.New("event is neither SNS, SQS nor CloudWatch Logs: subscribe the watcher only to those")
}

func (w *Watcher) logObservations(data string) ([]Observation, int, error) {
	zipped, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, 0, fmt.Errorf("awslogs.data is not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		return nil, 0, fmt.Errorf("awslogs.data is not gzip: %w", err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(io.LimitReader(zr, MaxLogBatchBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("awslogs.data does not decompress: %w", err)
	}
	if len(plain) > MaxLogBatchBytes {
		return nil, 0, fmt.Errorf("awslogs.data decompresses to more than %d bytes", MaxLogBatchBytes)
	}
	var batch struct {
		MessageType string `json:"messageType"`
		LogGroup    string `json:"logGroup"`
		LogEvents   []struct {
			ID        string `json:"id"`
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		} `json:"logEvents"`
	}
	if err := json.Unmarshal(plain, &batch); err != nil {
		return nil, 0, fmt.Errorf("awslogs.data is not a log batch: %w", err)
	}
	if batch.MessageType == "CONTROL_MESSAGE" {
		return nil, 0, nil // CloudWatch Logs checks the destination is reachable.
	}
	var obs []Observation
	skipped := 0
	for _, e := range batch.LogEvents {
		o, ok, err := parseLogMessage(e.Message, time.UnixMilli(e.Timestamp))
		if err != nil {
			skipped++
			w.logf("log event %s of %s skipped: %v", safeWord(e.ID), safeWord(batch.LogGroup), err)
			continue
		}
		if ok {
			if o.EventID == "" {
				o.EventID = e.ID
			}
			obs = append(obs, o)
		}
	}
	return obs, skipped, nil
}

// arnName returns the last part of an ARN (the topic or queue name).
func arnName(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func (w *Watcher) snsObservation(rec json.RawMessage) (Observation, bool, error) {
	var r struct {
		SNS struct {
			MessageID string    `json:"MessageId"`
			TopicArn  string    `json:"TopicArn"`
			Message   string    `json:"Message"`
			Timestamp time.Time `json:"Timestamp"`
		} `json:"Sns"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		return Observation{}, false, fmt.Errorf("SNS record does not parse: %v", err)
	}
	if w.AlertTopicARN != "" && r.SNS.TopicArn == w.AlertTopicARN {
		return Observation{}, false, nil // our own alerts: never alert about them
	}
	t := r.SNS.Timestamp
	if t.IsZero() {
		t = w.now()
	}
	o := Observation{Source: SourceTopic, Time: t.UTC(), EventID: r.SNS.MessageID, RequestID: r.SNS.MessageID,
		Topic: arnName(r.SNS.TopicArn)}

	var generic map[string]json.RawMessage
	isJSON := json.Unmarshal([]byte(r.SNS.Message), &generic) == nil
	if isJSON {
		if _, ok := generic["AlarmName"]; ok {
			var alarm struct {
				AlarmName     string `json:"AlarmName"`
				NewStateValue string `json:"NewStateValue"`
			}
			if json.Unmarshal([]byte(r.SNS.Message), &alarm) == nil && alarm.NewStateValue == "ALARM" {
				o.AlarmRaised, o.Detail = true, alarm.AlarmName
				return o, true, nil
			}
			return o, false, nil
		}
		if rc, ok := generic["requestContext"]; ok {
			var ctx struct {
				RequestID   string `json:"requestId"`
				FunctionArn string `json:"functionArn"`
				Condition   string `json:"condition"`
			}
			if json.Unmarshal(rc, &ctx) == nil && ctx.Condition != "" && ctx.Condition != "Success" {
				o.AsyncFailure, o.Detail = true, lambdaName(ctx.FunctionArn)
				if ctx.RequestID != "" {
					o.RequestID = ctx.RequestID
				}
				return o, true, nil
			}
		}
	}
	if w.AuditTopicARN != "" && r.SNS.TopicArn == w.AuditTopicARN {
		// Only the form the platform writes: names exact, each once (strictjson), so the watcher
		// reads the same tenant and action as the ledger does.
		var ev audit.Event
		if err := strictjson.Decode([]byte(r.SNS.Message), &ev); err != nil || ev.Validate() != nil {
			o.Invalid = true
			return o, true, nil
		}
		o.Tenant = ev.TenantID
		o.RequestID = ev.RequestID
		o.Principal = ev.Actor
		o.Action = ev.Action
		o.Interface = ev.Interface
		return o, true, nil
	}
	return o, false, nil
}

// lambdaName returns the function name of a Lambda ARN (arn:aws:lambda:r:a:function:name[:v]).
func lambdaName(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) >= 7 && parts[5] == "function" {
		return parts[6]
	}
	return arnName(arn)
}

func (w *Watcher) sqsObservation(rec json.RawMessage) (Observation, bool, error) {
	// The body is deliberately not a field: a dead-lettered message may hold anything.
	var r struct {
		MessageID      string `json:"messageId"`
		EventSourceARN string `json:"eventSourceARN"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		return Observation{}, false, fmt.Errorf("SQS record does not parse: %v", err)
	}
	// The watcher's own clock, not SentTimestamp: a dead-lettered message keeps the time it was
	// first sent, which may be long before it failed, and the alert is about the failure now.
	return Observation{Source: SourceDLQ, Time: w.now().UTC(), EventID: r.MessageID, RequestID: r.MessageID,
		Queue: arnName(r.EventSourceARN)}, true, nil
}
