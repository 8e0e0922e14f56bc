package trafficwatch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// logsEvent builds a CloudWatch Logs subscription event (gzip + base64 in awslogs.data).
func logsEvent(t *testing.T, messageType string, messages ...string) json.RawMessage {
	t.Helper()
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	batch := struct {
		MessageType         string     `json:"messageType"`
		Owner               string     `json:"owner"`
		LogGroup            string     `json:"logGroup"`
		LogStream           string     `json:"logStream"`
		SubscriptionFilters []string   `json:"subscriptionFilters"`
		LogEvents           []logEvent `json:"logEvents"`
	}{MessageType: messageType, Owner: "111122223333", LogGroup: "/caro/api/access", LogStream: "s",
		SubscriptionFilters: []string{"trafficwatch"}}
	for i, m := range messages {
		batch.LogEvents = append(batch.LogEvents, logEvent{ID: fmt.Sprint("log-", i), Timestamp: t0.Add(time.Duration(i) * time.Second).UnixMilli(), Message: m})
	}
	plain, _ := json.Marshal(batch)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(plain)
	zw.Close()
	ev, _ := json.Marshal(map[string]interface{}{"awslogs": map[string]string{"data": base64.StdEncoding.EncodeToString(zipped.Bytes())}})
	return ev
}

// accessLine renders an access-log line as API Gateway would with AccessLogFormat.
func accessLine(requestID, ip, sub, status, resource, path, waf string) string {
	f := AccessLogFormat
	for k, v := range map[string]string{
		"$context.requestId": requestID, "$context.requestTimeEpoch": "-", "$context.identity.sourceIp": ip,
		"$context.identity.userAgent":    "Mozilla/5.0 (X11; Linux) Jan Jansen's laptop",
		"$context.authorizer.claims.sub": sub,
		"$context.httpMethod":            "GET", "$context.resourcePath": resource, "$context.path": path,
		"$context.status": status, "$context.error.responseType": "-", "$context.wafResponseCode": waf,
		"$context.integration.status": "-", "$context.responseLength": "42",
	} {
		f = strings.ReplaceAll(f, `"`+k+`"`, `"`+strings.ReplaceAll(v, `"`, `\"`)+`"`)
	}
	return f
}

func TestAccessLogFormatIsJSONWithEveryField(t *testing.T) {
	var m map[string]string
	if err := json.Unmarshal([]byte(AccessLogFormat), &m); err != nil {
		t.Fatalf("AccessLogFormat is not JSON: %v", err)
	}
	for _, f := range []string{"requestId", "ip", "sub", "httpMethod", "resourcePath", "path", "status", "waf", "userAgent"} {
		if !strings.HasPrefix(m[f], "$context.") {
			t.Errorf("field %q = %q, want a $context variable", f, m[f])
		}
	}
	line := accessLine("r1", testIP, testSub, "403", "/patients/{id}", "/api/patients/x", "WAF_ALLOW")
	var a AccessRecord
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("AccessRecord does not take every field of the format: %v", err)
	}
}

func TestCloudWatchLogsBatch(t *testing.T) {
	w, pub := newTestWatcher(t)
	var lines []string
	// 10 unauthenticated 401s from one address: auth-failures-by-address.
	for i := 0; i < 10; i++ {
		lines = append(lines, accessLine(fmt.Sprint("req-401-", i), testIP, "-", "401", "/patients", "/api/patients", "-"))
	}
	// A WAF block: origin-verify-failure. A signal line with a Lambda log prefix: cross-tenant-attempt.
	lines = append(lines,
		accessLine("req-waf", "198.51.100.1", "-", "403", "/patients", "/api/patients", "WAF_BLOCK"),
		`2026-11-23T06:00:00.000Z c0ffee INFO {"caroSignal":"tenant_mismatch","requestId":"req-x","sub":"`+testSub+`","tenantId":"tenant-a","ip":"`+testIP+`","httpMethod":"GET","resourcePath":"/patients/{id}","status":404}`,
		"START RequestId: 1234 Version: $LATEST",  // not for the watcher
		`{"status":"nonsense","requestId":"bad"}`, // broken access record: skipped, counted
		`{"level":"info","msg":"hello"}`,          // other JSON: ignored
	)
	if err := w.HandleEvent(context.Background(), logsEvent(t, "DATA_MESSAGE", lines...)); err != nil {
		t.Fatal(err)
	}
	rules := map[string]Alert{}
	for _, a := range pub.alerts {
		rules[a.Rule] = a
	}
	if len(pub.alerts) != 3 || rules["auth-failures-by-address"].Count != 10 || rules["origin-verify-failure"].Detail != WAFBlock ||
		rules["cross-tenant-attempt"].Detail != MarkerTenantMismatch || rules["cross-tenant-attempt"].TenantID != "tenant-a" {
		t.Fatalf("alerts = %+v", pub.alerts)
	}
	a := rules["auth-failures-by-address"]
	if a.FirstSeen != t0 || a.LastSeen != t0.Add(9*time.Second) || len(a.RequestIDs) != 10 || a.RequestIDs[0] != "req-401-0" {
		t.Fatalf("times and request IDs from the batch: %+v", a)
	}
	b, _ := json.Marshal(pub.alerts)
	for _, leak := range []string{testIP, testSub, "198.51.100.1", "Jansen", "Mozilla"} {
		if strings.Contains(string(b), leak) {
			t.Fatalf("alerts carry %q: %s", leak, b)
		}
	}
	// The same batch again (a Lambda retry) raises nothing new and counts nothing twice.
	if err := w.HandleEvent(context.Background(), logsEvent(t, "DATA_MESSAGE", lines...)); err != nil {
		t.Fatal(err)
	}
	if len(pub.alerts) != 3 {
		t.Fatalf("a retried batch raised %d more alerts", len(pub.alerts)-3)
	}
}

func TestControlMessageAndBadPayloads(t *testing.T) {
	w, pub := newTestWatcher(t)
	if err := w.HandleEvent(context.Background(), logsEvent(t, "CONTROL_MESSAGE", "CWL CONTROL MESSAGE: Checking health of destination Lambda.")); err != nil {
		t.Fatal(err)
	}
	for name, ev := range map[string]string{
		"not base64":   `{"awslogs":{"data":"%%%"}}`,
		"not gzip":     `{"awslogs":{"data":"` + base64.StdEncoding.EncodeToString([]byte("plain")) + `"}}`,
		"not an event": `{"hello":"world"}`,
		"not JSON":     `nope`,
	} {
		if err := w.HandleEvent(context.Background(), json.RawMessage(ev)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(pub.alerts) != 0 {
		t.Fatalf("alerts %+v", pub.alerts)
	}
}

func TestDecompressionBombRefused(t *testing.T) {
	w, _ := newTestWatcher(t)
	var zipped bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zipped, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for i := 0; i < MaxLogBatchBytes>>20+1; i++ {
		zw.Write(chunk)
	}
	zw.Close()
	ev, _ := json.Marshal(map[string]interface{}{"awslogs": map[string]string{"data": base64.StdEncoding.EncodeToString(zipped.Bytes())}})
	if err := w.HandleEvent(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v", err)
	}
}

func snsRecord(topicARN, messageID, message string) map[string]interface{} {
	return map[string]interface{}{
		"EventSource": "aws:sns", "EventVersion": "1.0",
		"EventSubscriptionArn": topicARN + ":sub",
		"Sns": map[string]interface{}{"Type": "Notification", "MessageId": messageID, "TopicArn": topicARN,
			"Subject": nil, "Message": message, "Timestamp": t0.Format(time.RFC3339Nano)},
	}
}

func records(recs ...map[string]interface{}) json.RawMessage {
	b, _ := json.Marshal(map[string]interface{}{"Records": recs})
	return b
}

func TestSNSNotifications(t *testing.T) {
	w, pub := newTestWatcher(t)
	validAudit := `{"id":"0123456789abcdef0123456789abcdef","time":"2026-11-23T06:00:00Z","actor":"s","tenantId":"tenant-a",` +
		`"action":"patient:write","resourceType":"patient","resourceId":"p1","interface":"api","requestId":"r1","afterHash":"ab"}`
	alarm := `{"AlarmName":"caro-api-errors","NewStateValue":"ALARM","OldStateValue":"OK","NewStateReason":"Threshold crossed"}`
	alarmOK := `{"AlarmName":"caro-api-errors","NewStateValue":"OK","OldStateValue":"ALARM"}`
	failure := `{"version":"1.0","timestamp":"2026-11-23T06:00:00.000Z","requestContext":{"requestId":"inv-1",` +
		`"functionArn":"arn:aws:lambda:eu-west-1:111122223333:function:caro-audit-writer:$LATEST","condition":"RetriesExhausted",` +
		`"approximateInvokeCount":3},"requestPayload":{"patient":"Jan Jansen"},"responseContext":{"statusCode":200,"functionError":"Unhandled"}}`
	ev := records(
		snsRecord(w.AuditTopicARN, "m1", validAudit),
		snsRecord(w.AuditTopicARN, "m2", `{"id":"x","patientName":"Jan Jansen"}`), // unknown field: invalid
		snsRecord(w.AuditTopicARN, "m3", `not json`),
		snsRecord("arn:aws:sns:eu-west-1:111122223333:caro-alarms", "m4", alarm),
		snsRecord("arn:aws:sns:eu-west-1:111122223333:caro-alarms", "m5", alarmOK),
		snsRecord("arn:aws:sns:eu-west-1:111122223333:caro-failures", "m6", failure),
		snsRecord(w.AlertTopicARN, "m7", alarm), // our own topic: ignored
		snsRecord("arn:aws:sns:eu-west-1:111122223333:caro-other", "m8", `{"anything":1}`),
	)
	if err := w.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := map[string]Alert{}
	for _, a := range pub.alerts {
		got[a.Rule] = a
	}
	if len(pub.alerts) != 3 {
		t.Fatalf("alerts = %+v", pub.alerts)
	}
	if a := got["internal-message-invalid"]; a.Key != "caro-audit" || a.Count != 1 || a.RequestIDs[0] != "m2" {
		// m2 and m3 are both invalid; the second falls in the cooldown of the first.
		t.Fatalf("invalid audit alert = %+v", a)
	}
	if a := got["alarm-raised"]; a.Detail != "caro-api-errors" {
		t.Fatalf("alarm alert = %+v", a)
	}
	if a := got["async-invocation-failed"]; a.Detail != "caro-audit-writer" || a.RequestIDs[0] != "inv-1" {
		t.Fatalf("failure alert = %+v", a)
	}
	b, _ := json.Marshal(pub.alerts)
	if strings.Contains(string(b), "Jansen") {
		t.Fatalf("message content leaked: %s", b)
	}
}

func TestDLQMessagesNeverForwardTheirBody(t *testing.T) {
	w, pub := newTestWatcher(t)
	ev, _ := json.Marshal(map[string]interface{}{"Records": []map[string]interface{}{{
		"messageId": "dlq-msg-1", "receiptHandle": "h", "body": `{"patient":"Jan Jansen","bsn":"123456782"}`,
		"attributes":        map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1500000000000"},
		"messageAttributes": map[string]interface{}{}, "md5OfBody": "x", "eventSource": "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:caro-audit-dlq", "awsRegion": "eu-west-1",
	}}})
	if err := w.HandleEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(pub.alerts) != 1 {
		t.Fatalf("alerts = %+v", pub.alerts)
	}
	a := pub.alerts[0]
	if a.Rule != "dlq-message" || a.Key != "caro-audit-dlq" || a.RequestIDs[0] != "dlq-msg-1" || !a.FirstSeen.Equal(t0) {
		t.Fatalf("alert = %+v", a)
	}
	b, _ := json.Marshal(a)
	if strings.Contains(string(b), "Jansen") || strings.Contains(string(b), "123456782") {
		t.Fatalf("DLQ body leaked: %s", b)
	}
}

func TestWriteSignalRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSignal(&buf, Signal{Marker: MarkerOriginVerifyMissing, RequestID: "r9", IP: testIP}); err != nil {
		t.Fatal(err)
	}
	o, ok, err := parseLogMessage(buf.String(), t0)
	if err != nil || !ok || o.Marker != MarkerOriginVerifyMissing || o.Address != testIP || o.Source != SourceAPISignal {
		t.Fatalf("parsed %+v ok %v err %v", o, ok, err)
	}
	if err := WriteSignal(&buf, Signal{RequestID: "r"}); err == nil {
		t.Fatal("signal without marker accepted")
	}
}

func TestBulkExportsFromAuditEvents(t *testing.T) {
	w, pub := newTestWatcher(t)
	var recs []map[string]interface{}
	for i := 0; i < 5; i++ {
		ev := fmt.Sprintf(`{"id":"%032d","time":"2026-11-23T06:00:00Z","actor":"%s","tenantId":"tenant-a","action":"subject:export",`+
			`"resourceType":"patient","resourceId":"p%d","interface":"api","requestId":"req-%d","beforeHash":"ab"}`, i, testSub, i, i)
		recs = append(recs, snsRecord(w.AuditTopicARN, fmt.Sprint("m", i), ev))
	}
	if err := w.HandleEvent(context.Background(), records(recs...)); err != nil {
		t.Fatal(err)
	}
	if len(pub.alerts) != 1 || pub.alerts[0].Rule != "bulk-subject-requests-by-principal" || pub.alerts[0].Count != 5 ||
		pub.alerts[0].TenantID != "tenant-a" || pub.alerts[0].RequestIDs[4] != "req-4" {
		t.Fatalf("alerts %+v", pub.alerts)
	}
	if b, _ := json.Marshal(pub.alerts); strings.Contains(string(b), testSub) {
		t.Fatalf("actor in the clear: %s", b)
	}
}
