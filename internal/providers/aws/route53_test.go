package aws

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/carohealth/platform/internal/localstack"
)

// fakeARCCluster is an httptest Route 53 ARC cluster endpoint (route53-recovery-cluster, JSON 1.0)
// checking the documented request shape; down makes it answer 503 like an unavailable endpoint.
type fakeARCCluster struct {
	t      *testing.T
	mu     *sync.Mutex
	states map[string]string
	down   bool
	calls  *[]string
}

func (f *fakeARCCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	*f.calls = append(*f.calls, target)
	if f.down {
		w.WriteHeader(503)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		f.t.Errorf("ARC request %s content-type %q: want POST application/x-amz-json-1.0", r.Method, r.Header.Get("Content-Type"))
	}
	if !strings.Contains(r.Header.Get("Authorization"), "/route53-recovery-cluster/aws4_request") {
		f.t.Errorf("ARC request not SigV4-signed for route53-recovery-cluster: %q", r.Header.Get("Authorization"))
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch target {
	case "ToggleCustomerAPI.GetRoutingControlState":
		var in struct{ RoutingControlArn string }
		json.Unmarshal(body, &in)
		st, ok := f.states[in.RoutingControlArn]
		if !ok {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"__type":"ResourceNotFoundException","message":"no such routing control"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"RoutingControlArn": in.RoutingControlArn, "RoutingControlState": st})
	case "ToggleCustomerAPI.UpdateRoutingControlStates":
		var in struct {
			UpdateRoutingControlStateEntries []struct{ RoutingControlArn, RoutingControlState string }
		}
		if err := json.Unmarshal(body, &in); err != nil || len(in.UpdateRoutingControlStateEntries) == 0 {
			f.t.Errorf("UpdateRoutingControlStates body %s", body)
		}
		for _, e := range in.UpdateRoutingControlStateEntries {
			if e.RoutingControlState != "On" && e.RoutingControlState != "Off" {
				f.t.Errorf("state %q", e.RoutingControlState)
			}
			f.states[e.RoutingControlArn] = e.RoutingControlState
		}
		fmt.Fprint(w, `{}`)
	default:
		f.t.Errorf("unexpected ARC target %q", target)
		w.WriteHeader(400)
	}
}

const (
	arnA = "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/eu-west-1"
	arnB = "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/eu-central-1"
)

func TestDNSMoverARCFlipsBothControlsAtomicallyAndTriesNextEndpoint(t *testing.T) {
	mu, calls := &sync.Mutex{}, &[]string{}
	states := map[string]string{arnA: "On", arnB: "Off"}
	down := httptest.NewServer(&fakeARCCluster{t: t, mu: mu, states: states, down: true, calls: calls})
	up := httptest.NewServer(&fakeARCCluster{t: t, mu: mu, states: states, calls: calls})
	defer down.Close()
	defer up.Close()
	cfg := localstack.AWSConfig("eu-central-1", "")
	m := &DNSMover{Mode: DNSModeARC, SourceControl: arnA, TargetControl: arnB, ARC: &RoutingControls{
		Endpoints:   []ClusterEndpoint{{down.URL, "us-west-2"}, {up.URL, "eu-west-1"}},
		Credentials: cfg.Credentials,
	}}
	ctx := context.Background()
	if done, err := m.Done(ctx); err != nil || done {
		t.Fatalf("Done before = %v, %v", done, err)
	}
	if err := m.Move(ctx, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	a, b := states[arnA], states[arnB]
	mu.Unlock()
	if a != "Off" || b != "On" {
		t.Fatalf("states %s %s", a, b)
	}
	if done, err := m.Done(ctx); err != nil || !done {
		t.Fatalf("Done after = %v, %v", done, err)
	}
	n := 0
	for _, c := range *calls {
		if c == "ToggleCustomerAPI.UpdateRoutingControlStates" {
			n++
		}
	}
	if n != 2 { // once on the down endpoint, once on the working one
		t.Errorf("UpdateRoutingControlStates calls = %d (%v), want 2", n, *calls)
	}
	if !strings.Contains(m.Summary(), "data plane") {
		t.Errorf("summary %q", m.Summary())
	}
	// A 4xx from the cluster is final: no endpoint hopping.
	m.TargetControl = "arn:missing"
	if _, err := m.Done(ctx); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing control: %v", err)
	}
}

// fakeRoute53 is an httptest Route 53 (REST-XML, API version 2013-04-01) serving health checks,
// record changes and GetChange, checking the documented paths and bodies.
type fakeRoute53 struct {
	t        *testing.T
	mu       sync.Mutex
	inverted map[string]bool
	record   *r53types.ResourceRecordSet
	getCalls int
	calls    []string
	// records are listed when no record was written; failUpdates makes every change a 500.
	records     []r53types.ResourceRecordSet
	failUpdates bool
	// unhealthy health checks are reported failing by every checker (GetHealthCheckStatus).
	unhealthy map[string]bool
}

const r53ns = "https://route53.amazonaws.com/doc/2013-04-01/"

func (f *fakeRoute53) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if !strings.Contains(r.Header.Get("Authorization"), "/route53/aws4_request") {
		f.t.Errorf("Route 53 request not SigV4-signed for route53: %q", r.Header.Get("Authorization"))
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/xml")
	p := r.URL.Path
	hc := func(id string) string {
		return fmt.Sprintf(`<HealthCheck><Id>%s</Id><CallerReference>ref</CallerReference><HealthCheckConfig><Type>HTTPS</Type><Inverted>%t</Inverted></HealthCheckConfig><HealthCheckVersion>2</HealthCheckVersion></HealthCheck>`, id, f.inverted[id])
	}
	switch {
	case strings.HasPrefix(p, "/2013-04-01/healthcheck/") && strings.HasSuffix(p, "/status") && r.Method == http.MethodGet:
		// GetHealthCheckStatus: every checker reports what the health check's region answers.
		status := "Success: HTTP Status Code 200, OK"
		if f.unhealthy[strings.TrimSuffix(strings.TrimPrefix(p, "/2013-04-01/healthcheck/"), "/status")] {
			status = "Failure: HTTP Status Code 503, Service Unavailable"
		}
		obs := ""
		for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-1"} {
			obs += fmt.Sprintf(`<HealthCheckObservation><Region>%s</Region><IPAddress>192.0.2.1</IPAddress><StatusReport><Status>%s</Status><CheckedTime>2026-12-07T10:00:00Z</CheckedTime></StatusReport></HealthCheckObservation>`, region, status)
		}
		fmt.Fprintf(w, `<GetHealthCheckStatusResponse xmlns="%s"><HealthCheckObservations>%s</HealthCheckObservations></GetHealthCheckStatusResponse>`, r53ns, obs)
	case strings.HasPrefix(p, "/2013-04-01/healthcheck/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(p, "/2013-04-01/healthcheck/")
		fmt.Fprintf(w, `<GetHealthCheckResponse xmlns="%s">%s</GetHealthCheckResponse>`, r53ns, hc(id))
	case r.Method == http.MethodPost && f.failUpdates:
		w.WriteHeader(500)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>control plane impaired</Message></Error><RequestId>r</RequestId></ErrorResponse>`, r53ns)
	case strings.HasPrefix(p, "/2013-04-01/healthcheck/") && r.Method == http.MethodPost:
		id := strings.TrimPrefix(p, "/2013-04-01/healthcheck/")
		var in struct {
			XMLName  xml.Name `xml:"UpdateHealthCheckRequest"`
			Inverted *bool
		}
		if err := xml.Unmarshal(body, &in); err != nil || in.Inverted == nil {
			f.t.Errorf("UpdateHealthCheck body %s: %v", body, err)
		} else {
			f.inverted[id] = *in.Inverted
		}
		fmt.Fprintf(w, `<UpdateHealthCheckResponse xmlns="%s">%s</UpdateHealthCheckResponse>`, r53ns, hc(id))
	case strings.HasSuffix(strings.TrimSuffix(p, "/"), "/rrset") && r.Method == http.MethodPost:
		var in struct {
			XMLName     xml.Name `xml:"ChangeResourceRecordSetsRequest"`
			ChangeBatch struct {
				Changes []struct {
					Action            string
					ResourceRecordSet struct {
						Name, Type, SetIdentifier, Failover, HealthCheckId string
						TTL                                                int64
						ResourceRecords                                    []struct{ Value string } `xml:"ResourceRecords>ResourceRecord"`
					}
				} `xml:"Changes>Change"`
			}
		}
		if err := xml.Unmarshal(body, &in); err != nil || len(in.ChangeBatch.Changes) != 1 || in.ChangeBatch.Changes[0].Action != "UPSERT" {
			f.t.Errorf("ChangeResourceRecordSets body %s: %v", body, err)
		} else {
			rs := in.ChangeBatch.Changes[0].ResourceRecordSet
			rec := &r53types.ResourceRecordSet{Name: aws.String(rs.Name), Type: r53types.RRType(rs.Type), SetIdentifier: aws.String(rs.SetIdentifier),
				Failover: r53types.ResourceRecordSetFailover(rs.Failover), HealthCheckId: aws.String(rs.HealthCheckId), TTL: aws.Int64(rs.TTL)}
			for _, v := range rs.ResourceRecords {
				rec.ResourceRecords = append(rec.ResourceRecords, r53types.ResourceRecord{Value: aws.String(v.Value)})
			}
			f.record = rec
		}
		fmt.Fprintf(w, `<ChangeResourceRecordSetsResponse xmlns="%s"><ChangeInfo><Id>/change/C0001</Id><Status>PENDING</Status><SubmittedAt>%s</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>`, r53ns, time.Now().UTC().Format(time.RFC3339))
	case strings.HasSuffix(p, "/rrset") && r.Method == http.MethodGet:
		q := r.URL.Query()
		if q.Get("name") == "" {
			f.t.Errorf("ListResourceRecordSets query %v lacks name/type", q)
		}
		recs := ""
		for _, rr := range f.records {
			recs += fmt.Sprintf(`<ResourceRecordSet><Name>%s</Name><Type>%s</Type><SetIdentifier>%s</SetIdentifier><Failover>%s</Failover><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>%s</Value></ResourceRecord></ResourceRecords><HealthCheckId>%s</HealthCheckId></ResourceRecordSet>`,
				aws.ToString(rr.Name), rr.Type, aws.ToString(rr.SetIdentifier), rr.Failover, aws.ToString(rr.ResourceRecords[0].Value), aws.ToString(rr.HealthCheckId))
		}
		if f.record != nil {
			recs = fmt.Sprintf(`<ResourceRecordSet><Name>%s</Name><Type>%s</Type><SetIdentifier>%s</SetIdentifier><Failover>%s</Failover><TTL>%d</TTL><ResourceRecords><ResourceRecord><Value>%s</Value></ResourceRecord></ResourceRecords><HealthCheckId>%s</HealthCheckId></ResourceRecordSet>`,
				aws.ToString(f.record.Name), f.record.Type, aws.ToString(f.record.SetIdentifier), f.record.Failover, aws.ToInt64(f.record.TTL), aws.ToString(f.record.ResourceRecords[0].Value), aws.ToString(f.record.HealthCheckId))
		}
		fmt.Fprintf(w, `<ListResourceRecordSetsResponse xmlns="%s"><ResourceRecordSets>%s</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`, r53ns, recs)
	case p == "/2013-04-01/change/C0001":
		f.getCalls++
		status := "PENDING"
		if f.getCalls >= 2 {
			status = "INSYNC"
		}
		fmt.Fprintf(w, `<GetChangeResponse xmlns="%s"><ChangeInfo><Id>/change/C0001</Id><Status>%s</Status><SubmittedAt>%s</SubmittedAt></ChangeInfo></GetChangeResponse>`, r53ns, status, time.Now().UTC().Format(time.RFC3339))
	default:
		f.t.Errorf("unexpected Route 53 call %s %s", r.Method, p)
		w.WriteHeader(400)
	}
}

func newRoute53(t *testing.T, f *fakeRoute53) *route53.Client {
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return route53.NewFromConfig(localstack.AWSConfig("us-east-1", srv.URL))
}

func TestDNSMoverHealthCheckModeSaysControlPlane(t *testing.T) {
	f := &fakeRoute53{inverted: map[string]bool{"hc-a": false, "hc-b": true}}
	m := &DNSMover{Mode: DNSModeHealthCheck, Route53: newRoute53(t, f), SourceHealthCheck: "hc-a", TargetHealthCheck: "hc-b", SourceIsPrimary: true}
	var lines []string
	if err := m.Move(context.Background(), func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	a, b := f.inverted["hc-a"], f.inverted["hc-b"]
	f.mu.Unlock()
	if !a || b {
		t.Fatalf("inverted %v %v", a, b)
	}
	if done, err := m.Done(context.Background()); err != nil || !done {
		t.Fatalf("Done = %v %v", done, err)
	}
	if len(lines) == 0 || !strings.Contains(lines[0], "us-east-1") {
		t.Errorf("no control-plane warning: %v", lines)
	}
}

func TestDNSMoverUpsertWaitsForInsync(t *testing.T) {
	f := &fakeRoute53{}
	rec := &r53types.ResourceRecordSet{Name: aws.String("api-origin.caro.health."), Type: r53types.RRTypeCname, SetIdentifier: aws.String("primary"),
		Failover: r53types.ResourceRecordSetFailoverPrimary, TTL: aws.Int64(60), HealthCheckId: aws.String("hc-b"),
		ResourceRecords: []r53types.ResourceRecord{{Value: aws.String("d-abc.execute-api.eu-central-1.amazonaws.com")}}}
	m := &DNSMover{Mode: DNSModeUpsert, Route53: newRoute53(t, f), HostedZoneID: "Z04817572CAROHEALTH1", Record: rec, PollInterval: 5 * time.Millisecond}
	if done, err := m.Done(context.Background()); err != nil || done {
		t.Fatalf("Done before = %v %v", done, err)
	}
	if err := m.Move(context.Background(), func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	getCalls := f.getCalls
	f.mu.Unlock()
	if getCalls < 2 {
		t.Errorf("GetChange called %d times; the waiter should poll until INSYNC", getCalls)
	}
	if done, err := m.Done(context.Background()); err != nil || !done {
		t.Fatalf("Done after = %v %v", done, err)
	}
	if !strings.Contains(m.Summary(), "control plane") {
		t.Errorf("summary %q", m.Summary())
	}
}
