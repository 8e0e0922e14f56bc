package trafficwatch

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseLogMessage: any log line is either ignored, refused with an error, or turned into an
// observation; nothing panics, and an observation's status is a real HTTP status or none.
func FuzzParseLogMessage(f *testing.F) {
	f.Add(accessLine("r1", testIP, testSub, "401", "/patients", "/api/patients", "-"))
	f.Add(`{"caroSignal":"tenant_mismatch","requestId":"r","sub":"s","ip":"1.2.3.4","status":404}`)
	f.Add(`2026-11-23T06:00:00Z id INFO {"caroSignal":"injection_pattern","requestId":"r","detail":"script"}`)
	f.Add(`{"requestId":"r","status":"999","httpMethod":"GET","resourcePath":"/x"}`)
	f.Add("START RequestId: x")
	f.Fuzz(func(t *testing.T, line string) {
		o, ok, err := parseLogMessage(line, t0)
		if err != nil || !ok {
			return
		}
		if o.Source == SourceAccessLog && (o.Status < 100 || o.Status > 599) {
			t.Fatalf("access observation with status %d from %q", o.Status, line)
		}
		if _, found := DetectInjection(o.Path); !found && strings.Contains(strings.ToLower(o.Path), "<script") {
			t.Fatalf("path %q has a script tag the detector missed", o.Path)
		}
	})
}

// FuzzDetectInjection: the detector never panics, and a script tag is found however it is
// percent-encoded once.
func FuzzDetectInjection(f *testing.F) {
	f.Add("/patients/<script>")
	f.Add("/patients/%3Cscript%3E")
	f.Add(`/patients/{"$ne":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		DetectInjection(s)
		if strings.Contains(strings.ToLower(s), "<script") {
			if _, ok := DetectInjection(s); !ok {
				t.Fatalf("missed %q", s)
			}
		}
	})
}

func BenchmarkCloudWatchLogsBatch(b *testing.B) {
	var lines []string
	for i := 0; i < 1000; i++ {
		status := []string{"200", "201", "401", "403", "404", "500"}[i%6]
		lines = append(lines, accessLine("req-"+strings.Repeat("x", i%7)+time.Duration(i).String(),
			"198.51.100."+[]string{"1", "2", "3"}[i%3], testSub, status, "/patients/{id}", "/api/patients/0123", "-"))
	}
	t := &testing.T{}
	ev := logsEvent(t, "DATA_MESSAGE", lines...)
	ps, _ := NewPseudonymizer([]byte(strings.Repeat("k", 32)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := &Watcher{Rules: Rules, Counter: NewMemoryCounter(), Publisher: &recordingPublisher{}, Pseudonyms: ps, Region: "eu-west-1"}
		if err := w.HandleEvent(b.Context(), ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(lines)), "lines/batch")
}
