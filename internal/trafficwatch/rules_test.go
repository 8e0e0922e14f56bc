package trafficwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingPublisher keeps the alerts it is given (a stand-in for SNS in rule tests; the real
// SNSPublisher is tested against the SNS fake in sns_test.go).
type recordingPublisher struct {
	mu     sync.Mutex
	alerts []Alert
	fail   bool
}

func (p *recordingPublisher) Publish(_ context.Context, a Alert) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return fmt.Errorf("publish refused")
	}
	p.alerts = append(p.alerts, a)
	return nil
}

const (
	testIP  = "203.0.113.77"
	testSub = "5b1d7c3e-aaaa-bbbb-cccc-0123456789ab"
)

var t0 = time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)

func newTestWatcher(t *testing.T) (*Watcher, *recordingPublisher) {
	t.Helper()
	ps, err := NewPseudonymizer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	pub := &recordingPublisher{}
	return &Watcher{Rules: Rules, Counter: NewMemoryCounter(), Publisher: pub, Pseudonyms: ps,
		Region: "eu-west-1", AlertTopicARN: "arn:aws:sns:eu-west-1:111122223333:caro-oncall",
		AuditTopicARN: "arn:aws:sns:eu-west-1:111122223333:caro-audit", Now: func() time.Time { return t0 }}, pub
}

func access(status int, resource, path string) Observation {
	return Observation{Source: SourceAccessLog, Address: testIP, Principal: testSub, Tenant: "tenant-a",
		Method: "GET", ResourcePath: resource, Path: path, Status: status}
}

func signal(marker, detail string) Observation {
	return Observation{Source: SourceAPISignal, Address: testIP, Principal: testSub, Tenant: "tenant-a",
		Method: "GET", ResourcePath: "/patients/{id}", Status: 404, Marker: marker, Detail: detail}
}

// ruleCases has, for every rule of the table, an observation that matches it and observations
// that must not.
var ruleCases = map[string]struct {
	match    Observation
	nonMatch []Observation
}{
	"dlq-message": {
		match:    Observation{Source: SourceDLQ, Queue: "caro-api-dlq"},
		nonMatch: []Observation{{Source: SourceTopic, Topic: "caro-audit"}, access(500, "/patients", "/patients")},
	},
	"async-invocation-failed": {
		match:    Observation{Source: SourceTopic, AsyncFailure: true, Detail: "caro-audit-writer"},
		nonMatch: []Observation{{Source: SourceTopic, Detail: "caro-audit-writer"}},
	},
	"alarm-raised": {
		match:    Observation{Source: SourceTopic, AlarmRaised: true, Detail: "caro-api-errors"},
		nonMatch: []Observation{{Source: SourceTopic, Detail: "caro-api-errors"}},
	},
	"internal-message-invalid": {
		match:    Observation{Source: SourceTopic, Invalid: true, Topic: "caro-audit"},
		nonMatch: []Observation{{Source: SourceTopic, Topic: "caro-audit"}},
	},
	"server-error-burst": {
		match: access(503, "/patients", "/patients"),
		nonMatch: []Observation{access(200, "/patients", "/patients"), access(404, "/patients/{id}", "/patients/x"),
			access(499, "/patients", "/patients")},
	},
	"auth-failures-by-address": {
		match: Observation{Source: SourceAccessLog, Address: testIP, Status: 401, Path: "/patients"},
		nonMatch: []Observation{access(200, "/patients", "/patients"), access(404, "/patients/{id}", "/patients/x"),
			{Source: SourceAccessLog, Status: 401, Path: "/patients"}, // no address: nothing to count per
			{Source: SourceAccessLog, Address: testIP, Status: 403, WAFBlocked: true}},
	},
	"auth-failures-by-principal": {
		match: access(403, "/subjects/{id}", "/subjects/x"),
		nonMatch: []Observation{access(200, "/patients", "/patients"),
			{Source: SourceAccessLog, Address: testIP, Status: 401}}, // a 401 has no principal
	},
	"id-probing-by-principal": {
		match:    access(404, "/patients/{id}", "/patients/0123"),
		nonMatch: []Observation{access(404, "/patients", "/patients"), access(200, "/patients/{id}", "/patients/0123")},
	},
	"cross-tenant-attempt": {
		match:    signal(MarkerTenantMismatch, ""),
		nonMatch: []Observation{signal(MarkerInjection, "mongo-operator"), access(404, "/patients", "/patients")},
	},
	"injection-attempt": {
		match: access(400, "/patients/{id}", `/patients/{"$ne":null}`),
		nonMatch: []Observation{access(400, "/patients/{id}", "/patients/0f3a9c"), signal(MarkerTenantMismatch, ""),
			access(200, "/patients", "/patients")},
	},
	"bulk-subject-requests-by-principal": {
		match: Observation{Source: SourceTopic, Topic: "caro-audit", Principal: testSub, Tenant: "tenant-a", Action: "subject:export", Interface: "api"},
		nonMatch: []Observation{{Source: SourceTopic, Topic: "caro-audit", Principal: testSub, Action: "patient:write", Interface: "api"},
			{Source: SourceTopic, Topic: "caro-audit", Action: "subject:erase", Interface: "api"}, // no actor: nothing to count per
			// a restore or caro gdpr reapply re-applying registered erasures
			{Source: SourceTopic, Topic: "caro-audit", Principal: "job:backup-restore", Tenant: "tenant-a", Action: "subject:erase", Interface: "job"},
			{Source: SourceTopic, Topic: "caro-audit", Principal: "os-user:oncall", Tenant: "tenant-a", Action: "subject:erase", Interface: "cli"}},
	},
	"origin-verify-failure": {
		match:    Observation{Source: SourceAccessLog, Address: testIP, Status: 403, WAFBlocked: true},
		nonMatch: []Observation{access(403, "/patients", "/patients"), signal(MarkerTenantMismatch, "")},
	},
}

// feed evaluates n copies of o, one step apart from start, each with its own event and request ID.
func feed(t *testing.T, w *Watcher, o Observation, n int, start time.Time, step time.Duration, tag string) []Alert {
	t.Helper()
	var obs []Observation
	for i := 0; i < n; i++ {
		c := o
		c.Time = start.Add(time.Duration(i) * step)
		c.EventID = fmt.Sprintf("%s-ev-%d", tag, i)
		c.RequestID = fmt.Sprintf("%s-req-%d", tag, i)
		obs = append(obs, c)
	}
	alerts, err := w.Evaluate(context.Background(), obs)
	if err != nil {
		t.Fatal(err)
	}
	return alerts
}

func only(alerts []Alert, rule string) []Alert {
	var out []Alert
	for _, a := range alerts {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func TestEveryRuleHasACase(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] {
			t.Errorf("rule %s appears twice", r.ID)
		}
		seen[r.ID] = true
		if _, ok := ruleCases[r.ID]; !ok {
			t.Errorf("rule %s has no test case", r.ID)
		}
		if r.Threshold < 1 || r.Window <= 0 || r.Summary == "" || r.Action == "" || r.When == nil {
			t.Errorf("rule %s is incomplete: %+v", r.ID, r)
		}
	}
	for id := range ruleCases {
		if !seen[id] {
			t.Errorf("case %s names no rule", id)
		}
	}
}

func TestRules(t *testing.T) {
	for _, r := range Rules {
		tc := ruleCases[r.ID]
		t.Run(r.ID, func(t *testing.T) {
			step := r.Window / time.Duration(4*r.Threshold+4)

			t.Run("below threshold: no alert", func(t *testing.T) {
				w, _ := newTestWatcher(t)
				if got := only(feed(t, w, tc.match, r.Threshold-1, t0, step, "below"), r.ID); len(got) != 0 {
					t.Fatalf("%d alerts below threshold", len(got))
				}
			})

			t.Run("at threshold: one alert with context and no personal data", func(t *testing.T) {
				w, _ := newTestWatcher(t)
				got := only(feed(t, w, tc.match, r.Threshold, t0, step, "at"), r.ID)
				if len(got) != 1 {
					t.Fatalf("%d alerts at threshold, want 1", len(got))
				}
				a := got[0]
				last := t0.Add(time.Duration(r.Threshold-1) * step)
				if a.Count != r.Threshold || a.Threshold != r.Threshold || a.WindowSeconds != int(r.Window/time.Second) ||
					!a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(last) || a.Region != "eu-west-1" ||
					a.Category != r.Category || a.Severity != r.Severity || a.Summary == "" || a.Action == "" || a.ID == "" {
					t.Fatalf("alert = %+v", a)
				}
				wantIDs := r.Threshold
				if wantIDs > MaxRequestIDs {
					wantIDs = MaxRequestIDs
				}
				if len(a.RequestIDs) != wantIDs || a.RequestIDs[len(a.RequestIDs)-1] != fmt.Sprintf("at-req-%d", r.Threshold-1) {
					t.Fatalf("request IDs = %v", a.RequestIDs)
				}
				b, _ := json.Marshal(a)
				for _, secret := range []string{testIP, testSub, "203.0.113"} {
					if strings.Contains(string(b), secret) {
						t.Fatalf("alert carries %q: %s", secret, b)
					}
				}
				if len(a.SubjectLine()) > 100 || !strings.Contains(a.SubjectLine(), r.ID) {
					t.Fatalf("subject %q", a.SubjectLine())
				}
			})

			t.Run("quiet for the window after alerting, then alerts again", func(t *testing.T) {
				w, _ := newTestWatcher(t)
				if got := only(feed(t, w, tc.match, r.Threshold, t0, step, "first"), r.ID); len(got) != 1 {
					t.Fatalf("%d first alerts", len(got))
				}
				if got := only(feed(t, w, tc.match, r.Threshold, t0.Add(r.Window/2), step, "more"), r.ID); len(got) != 0 {
					t.Fatalf("%d alerts inside the cooldown", len(got))
				}
				later := t0.Add(3 * r.Window)
				if got := only(feed(t, w, tc.match, r.Threshold, later, step, "later"), r.ID); len(got) != 1 {
					t.Fatalf("%d alerts after the window, want 1", len(got))
				}
			})

			if r.Threshold > 1 {
				t.Run("spread wider than the window: no alert", func(t *testing.T) {
					w, _ := newTestWatcher(t)
					if got := only(feed(t, w, tc.match, 3*r.Threshold, t0, r.Window/time.Duration(r.Threshold-1)+time.Second, "spread"), r.ID); len(got) != 0 {
						t.Fatalf("%d alerts for events spread over more than the window", len(got))
					}
				})
				t.Run("a redelivered event counts once", func(t *testing.T) {
					w, _ := newTestWatcher(t)
					o := tc.match
					o.EventID, o.RequestID, o.Time = "same-event", "same-request", t0
					var obs []Observation
					for i := 0; i < 2*r.Threshold; i++ {
						obs = append(obs, o)
					}
					alerts, err := w.Evaluate(context.Background(), obs)
					if err != nil {
						t.Fatal(err)
					}
					if got := only(alerts, r.ID); len(got) != 0 {
						t.Fatalf("one event delivered %d times raised %d alerts", 2*r.Threshold, len(got))
					}
				})
			}

			t.Run("non-matching observations: no alert", func(t *testing.T) {
				w, _ := newTestWatcher(t)
				for i, o := range tc.nonMatch {
					if got := only(feed(t, w, o, 2*r.Threshold+1, t0, step, fmt.Sprintf("non%d", i)), r.ID); len(got) != 0 {
						t.Fatalf("non-match %d (%+v) raised %d alerts", i, o, len(got))
					}
				}
			})
		})
	}
}

func TestKeysAreCountedApart(t *testing.T) {
	w, _ := newTestWatcher(t)
	r, _ := RuleByID("auth-failures-by-address")
	var obs []Observation
	for i := 0; i < 2*r.Threshold; i++ {
		o := access(401, "/patients", "/patients")
		o.Principal = ""
		o.Address = fmt.Sprintf("198.51.100.%d", i) // each address fails once
		o.Time, o.EventID = t0.Add(time.Duration(i)*time.Second), fmt.Sprint("e", i)
		obs = append(obs, o)
	}
	alerts, err := w.Evaluate(context.Background(), obs)
	if err != nil {
		t.Fatal(err)
	}
	if got := only(alerts, r.ID); len(got) != 0 {
		t.Fatalf("failures from different addresses were counted together: %d alerts", len(got))
	}
}

func TestDetailNamesThePatternNotThePayload(t *testing.T) {
	w, _ := newTestWatcher(t)
	o := access(400, "/patients/{id}", `/patients/<script>alert("patient Jan Jansen")</script>`)
	a := only(feed(t, w, o, 1, t0, time.Second, "x"), "injection-attempt")
	if len(a) != 1 || a[0].Detail != "script" {
		t.Fatalf("alerts %+v", a)
	}
	b, _ := json.Marshal(a[0])
	if strings.Contains(string(b), "Jansen") || strings.Contains(string(b), "<script") {
		t.Fatalf("payload leaked: %s", b)
	}
	s := signal(MarkerInjection, `free text from "Jan Jansen"`)
	a = only(feed(t, w, s, 1, t0, time.Second, "y"), "injection-attempt")
	if len(a) != 0 {
		// same address already alerted inside the window
		t.Fatalf("cooldown ignored: %+v", a)
	}
	w2, _ := newTestWatcher(t)
	a = only(feed(t, w2, s, 1, t0, time.Second, "z"), "injection-attempt")
	if len(a) != 1 || a[0].Detail != MarkerInjection {
		t.Fatalf("a signal's free-text detail must be dropped: %+v", a)
	}
}

func TestDetectInjection(t *testing.T) {
	cases := map[string]string{
		`/patients/{"$where":"1"}`:                    "mongo-operator",
		"/patients?name[$ne]=x":                       "mongo-operator",
		"/patients/%7B%22%24ne%22%3A1%7D":             "mongo-operator",
		"/patients/%257B%2522%2524gt%2522%253A0%257D": "mongo-operator", // double-encoded
		"/patients/../../etc/passwd":                  "path-traversal",
		"/patients/%2E%2E%2Fsecret":                   "path-traversal",
		"/notes/<SCRIPT>alert(1)</SCRIPT>":            "script",
		"/notes/%3Cscript%3E":                         "script",
		"/notes/abc%00.json":                          "null-byte",
		"/patients/5f2b0c9e8d7a6b5c4d3e2f1a":          "",
		"/patients/5f2b/notes":                        "",
		"/subjects/abc/export":                        "",
		"/health":                                     "",
	}
	for in, want := range cases {
		got, ok := DetectInjection(in)
		if got != want || ok != (want != "") {
			t.Errorf("DetectInjection(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestPseudonyms(t *testing.T) {
	a, _ := NewPseudonymizer([]byte(strings.Repeat("a", 32)))
	b, _ := NewPseudonymizer([]byte(strings.Repeat("b", 32)))
	if a.Pseudonym("address", testIP) != a.Pseudonym("address", testIP) {
		t.Fatal("not stable under one key")
	}
	if a.Pseudonym("address", testIP) == b.Pseudonym("address", testIP) {
		t.Fatal("same under different keys")
	}
	if a.Pseudonym("address", "x") == a.Pseudonym("principal", "x") {
		t.Fatal("kinds not separated")
	}
	if p := a.Pseudonym("address", testIP); !strings.HasPrefix(p, "address-") || len(p) != len("address-")+16 || strings.Contains(p, "203") {
		t.Fatalf("pseudonym %q", p)
	}
	if a.Pseudonym("address", "") != "" {
		t.Fatal("empty value must stay empty (nothing to count)")
	}
	if _, err := NewPseudonymizer([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestMemoryCounterBoundsKeys(t *testing.T) {
	c := NewMemoryCounter()
	c.MaxKeys = 10
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.Observe(ctx, fmt.Sprint("k", i), Event{ID: "e", Time: t0.Add(time.Duration(i) * time.Second)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.keys) > 10 {
		t.Fatalf("%d keys kept, bound 10", len(c.keys))
	}
}

func TestOutOfOrderEventsCountInTheirWindow(t *testing.T) {
	c := NewMemoryCounter()
	ctx := context.Background()
	for _, s := range []int{50, 10, 30} {
		if _, err := c.Observe(ctx, "k", Event{ID: fmt.Sprint(s), Time: t0.Add(time.Duration(s) * time.Second)}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	tally, _ := c.Observe(ctx, "k", Event{ID: "60", Time: t0.Add(60 * time.Second)}, time.Minute)
	if tally.Count != 4 || !tally.First.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("tally %+v", tally)
	}
}

func TestBulkExportsCountFromEveryInterface(t *testing.T) {
	// GIVEN five subject exports by one principal through the CLI
	w, _ := newTestWatcher(t)
	o := Observation{Source: SourceTopic, Topic: "caro-audit", Principal: "os-user:oncall", Tenant: "tenant-a", Action: "subject:export", Interface: "cli"}
	// WHEN the watcher sees them THEN the bulk rule fires: only re-applied erasures are exempt
	if got := only(feed(t, w, o, 5, time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC), time.Second, "cli"), "bulk-subject-requests-by-principal"); len(got) != 1 {
		t.Fatalf("alerts %+v, want one", got)
	}
}
