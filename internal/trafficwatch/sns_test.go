package trafficwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/carohealth/platform/internal/localstack"
)

// snsFake is an httptest server that answers the SNS Query API's Publish action the way the
// documented API does (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html), checking the
// request shape: POST /, form-encoded Action=Publish&Version=2010-03-31, a SigV4 signature for the
// sns service, TopicArn, Subject, Message and MessageAttributes.entry.N.{Name,Value.DataType,
// Value.StringValue}. It is a fake, not a mock: it keeps what was published.
type snsFake struct {
	t      *testing.T
	mu     sync.Mutex
	fail   bool
	forms  []url.Values
	server *httptest.Server
}

func newSNSFake(t *testing.T) *snsFake {
	f := &snsFake{t: t}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.server.Close)
	return f
}

func (f *snsFake) serve(w http.ResponseWriter, r *http.Request) {
	problem := func(format string, args ...interface{}) {
		f.t.Errorf("SNS fake: "+format, args...)
		w.WriteHeader(400)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>bad request</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		problem("%s %s, want POST /", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		problem("Content-Type %q", ct)
		return
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+localstack.DummyAccessKeyID+"/") ||
		!strings.Contains(auth, "/eu-west-1/sns/aws4_request") || !strings.Contains(auth, "Signature=") ||
		r.Header.Get("X-Amz-Date") == "" {
		problem("not SigV4-signed for sns in eu-west-1: %q", auth)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		problem("body is not form-encoded: %v", err)
		return
	}
	if form.Get("Action") != "Publish" || form.Get("Version") != "2010-03-31" {
		problem("Action %q Version %q", form.Get("Action"), form.Get("Version"))
		return
	}
	if !strings.HasPrefix(form.Get("TopicArn"), "arn:aws:sns:") || form.Get("Message") == "" {
		problem("TopicArn %q, Message %d bytes", form.Get("TopicArn"), len(form.Get("Message")))
		return
	}
	if s := form.Get("Subject"); s == "" || len(s) > 100 {
		problem("Subject %q must be 1-100 characters", s)
		return
	}
	f.mu.Lock()
	fail := f.fail
	if !fail {
		f.forms = append(f.forms, form)
	}
	n := len(f.forms)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if fail {
		w.WriteHeader(403)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`+
			`<Code>AuthorizationError</Code><Message>not authorized to publish</Message></Error><RequestId>req-fail</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>`+
		`<MessageId>00000000-0000-0000-0000-%012d</MessageId></PublishResult><ResponseMetadata>`+
		`<RequestId>11111111-0000-0000-0000-000000000000</RequestId></ResponseMetadata></PublishResponse>`, n)
}

func (f *snsFake) published() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}

func (f *snsFake) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

// attributes reads MessageAttributes.entry.N.* back into a map.
func attributes(form url.Values) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(p + "Name")
		if name == "" {
			return out
		}
		if form.Get(p+"Value.DataType") != "String" {
			out[name] = "bad data type " + form.Get(p+"Value.DataType")
			continue
		}
		out[name] = form.Get(p + "Value.StringValue")
	}
}

func dlqEvent(messageID string) json.RawMessage {
	b, _ := json.Marshal(map[string]interface{}{"Records": []map[string]interface{}{{
		"messageId": messageID, "body": "secret", "eventSource": "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:caro-api-dlq",
	}}})
	return b
}

func TestAlertsArePublishedToTheOnCallTopic(t *testing.T) {
	fake := newSNSFake(t)
	w, _ := newTestWatcher(t)
	client := sns.NewFromConfig(localstack.AWSConfig("eu-west-1", fake.server.URL))
	w.Publisher = SNSPublisher{Client: client, TopicARN: w.AlertTopicARN}

	if err := w.HandleEvent(context.Background(), dlqEvent("m-1")); err != nil {
		t.Fatal(err)
	}
	got := fake.published()
	if len(got) != 1 {
		t.Fatalf("%d publishes, want 1", len(got))
	}
	form := got[0]
	if form.Get("TopicArn") != w.AlertTopicARN {
		t.Fatalf("TopicArn %q", form.Get("TopicArn"))
	}
	var a Alert
	dec := json.NewDecoder(strings.NewReader(form.Get("Message")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("Message is not an Alert: %v", err)
	}
	if a.Rule != "dlq-message" || a.Key != "caro-api-dlq" || a.Region != "eu-west-1" || a.RequestIDs[0] != "m-1" {
		t.Fatalf("alert %+v", a)
	}
	if form.Get("Subject") != a.SubjectLine() || !strings.Contains(form.Get("Subject"), "dlq-message") {
		t.Fatalf("Subject %q", form.Get("Subject"))
	}
	attrs := attributes(form)
	if attrs["rule"] != "dlq-message" || attrs["severity"] != "high" || attrs["category"] != "failure" {
		t.Fatalf("message attributes %v", attrs)
	}
	if strings.Contains(form.Encode(), "secret") {
		t.Fatal("the DLQ body reached SNS")
	}
}

func TestFailedPublishIsRetriedByTheNextInvocation(t *testing.T) {
	fake := newSNSFake(t)
	w, _ := newTestWatcher(t)
	w.Publisher = SNSPublisher{Client: sns.NewFromConfig(localstack.AWSConfig("eu-west-1", fake.server.URL)), TopicARN: w.AlertTopicARN}

	fake.setFail(true)
	err := w.HandleEvent(context.Background(), dlqEvent("m-2"))
	if err == nil || !strings.Contains(err.Error(), "AuthorizationError") || !strings.Contains(err.Error(), "dlq-message") {
		t.Fatalf("err = %v, want the publish failure naming the rule", err)
	}
	// Lambda retries the same event: the count stays 1 (idempotent) and the alert now goes out.
	fake.setFail(false)
	if err := w.HandleEvent(context.Background(), dlqEvent("m-2")); err != nil {
		t.Fatal(err)
	}
	got := fake.published()
	if len(got) != 1 {
		t.Fatalf("%d publishes after the retry, want 1", len(got))
	}
	var a Alert
	if err := json.Unmarshal([]byte(got[0].Get("Message")), &a); err != nil || a.Count != 1 {
		t.Fatalf("alert %+v err %v", a, err)
	}
}
