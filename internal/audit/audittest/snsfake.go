// Package audittest holds test helpers for code that publishes audit events: SNSFake, an httptest
// server speaking the SNS Query protocol, so tests drive the real AWS SDK SNS client.
package audittest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/carohealth/platform/internal/audit"
)

// SNSFake is a fake of the SNS Publish API (Query protocol, API version 2010-03-31). It checks each
// request against the documented shape (POST form: Action=Publish, Version, TopicArn, Message,
// MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}), decodes the Message as an
// audit.Event and records it. Requests of another shape fail the test.
type SNSFake struct {
	// Server is the underlying test server; its URL is the SNS endpoint.
	Server *httptest.Server
	// TopicARN is the only topic the fake accepts.
	TopicARN string

	t      testing.TB
	mu     sync.Mutex
	events []audit.Event
	attrs  []map[string]string
	fail   bool
}

// NewSNSFake starts the fake; it stops in t.Cleanup.
func NewSNSFake(t testing.TB) *SNSFake {
	f := &SNSFake{t: t, TopicARN: "arn:aws:sns:eu-west-1:111122223333:caro-audit"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// Client returns a real SNS client pointed at the fake.
func (f *SNSFake) Client() *sns.Client {
	return sns.NewFromConfig(aws.Config{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
		BaseEndpoint:     aws.String(f.Server.URL),
		RetryMaxAttempts: 1,
	})
}

// Publisher returns an audit.SNSPublisher using the fake.
func (f *SNSFake) Publisher() *audit.SNSPublisher {
	return &audit.SNSPublisher{Client: f.Client(), TopicARN: f.TopicARN}
}

// SetFailing makes Publish answer 500 (an SNS InternalError) until set back.
func (f *SNSFake) SetFailing(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// Events returns the events published so far, in order.
func (f *SNSFake) Events() []audit.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]audit.Event(nil), f.events...)
}

// Attributes returns the message attributes of each publish, in order.
func (f *SNSFake) Attributes() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.attrs...)
}

// Reset forgets the recorded events.
func (f *SNSFake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events, f.attrs = nil, nil
}

func (f *SNSFake) bad(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("SNS fake: %s", msg)
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, msg)
}

func (f *SNSFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.bad(w, "method %s, want POST", r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.bad(w, "content type %q, want application/x-www-form-urlencoded", ct)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.bad(w, "request not SigV4-signed")
		return
	}
	if err := r.ParseForm(); err != nil {
		f.bad(w, "form: %v", err)
		return
	}
	form := r.PostForm
	if form.Get("Action") != "Publish" || form.Get("Version") != "2010-03-31" {
		f.bad(w, "Action=%q Version=%q, want Publish 2010-03-31", form.Get("Action"), form.Get("Version"))
		return
	}
	if form.Get("TopicArn") != f.TopicARN {
		f.bad(w, "TopicArn %q, want %q", form.Get("TopicArn"), f.TopicARN)
		return
	}
	attrs, err := messageAttributes(form)
	if err != nil {
		f.bad(w, "%v", err)
		return
	}
	var ev audit.Event
	dec := json.NewDecoder(strings.NewReader(form.Get("Message")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		f.bad(w, "Message is not an audit event: %v", err)
		return
	}
	if err := ev.Validate(); err != nil {
		f.bad(w, "Message: %v", err)
		return
	}
	if attrs["eventId"] != ev.ID {
		f.bad(w, "attribute eventId %q differs from event ID %q", attrs["eventId"], ev.ID)
		return
	}
	f.mu.Lock()
	fail := f.fail
	if !fail {
		f.events = append(f.events, ev)
		f.attrs = append(f.attrs, attrs)
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>fake outage</Message></Error><RequestId>fake</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>fake-request</RequestId></ResponseMetadata></PublishResponse>`, audit.NewEventID())
}

// messageAttributes reads MessageAttributes.entry.N.Name / .Value.DataType / .Value.StringValue.
func messageAttributes(form url.Values) (map[string]string, error) {
	out := map[string]string{}
	for n := 1; ; n++ {
		p := fmt.Sprintf("MessageAttributes.entry.%d.", n)
		name := form.Get(p + "Name")
		if name == "" {
			break
		}
		if dt := form.Get(p + "Value.DataType"); dt != "String" {
			return nil, fmt.Errorf("attribute %s DataType %q, want String", name, dt)
		}
		out[name] = form.Get(p + "Value.StringValue")
	}
	return out, nil
}
