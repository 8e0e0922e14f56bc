package localstack_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/carohealth/platform/internal/localstack"
)

// queryA asks addr for the A records of name over UDP.
func queryA(t *testing.T, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s A: %v", name, err)
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips
}

// update replaces the A records of name with ip, signed with the given TSIG key.
func update(addr, zone, name, ip, keyName, secret, alg string) (*dns.Msg, error) {
	rr, err := dns.NewRR(name + " 60 IN A " + ip)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{rr})
	m.SetTsig(keyName, alg, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second, TsigSecret: map[string]string{keyName: secret}}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func TestKnotUpdateAndQuery(t *testing.T) {
	// GIVEN a Knot server for caro.test. with www at 192.0.2.1
	k := localstack.StartKnotForTest(t, "caro.test", "www 60 IN A 192.0.2.1")
	if got := queryA(t, k.Addr(), "www.caro.test."); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Fatalf("www before update = %v, want [192.0.2.1]", got)
	}

	// WHEN an RFC 2136 update signed with the zone's TSIG key points www at 192.0.2.2
	name, secret, alg := k.TSIG()
	r, err := update(k.Addr(), k.Zone(), "www.caro.test.", "192.0.2.2", name, secret, alg)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update rcode = %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}

	// THEN a query sees the new address
	if got := queryA(t, k.Addr(), "www.caro.test."); len(got) != 1 || got[0] != "192.0.2.2" {
		t.Fatalf("www after update = %v, want [192.0.2.2]", got)
	}
}

func TestKnotRefusesUpdateWithWrongKey(t *testing.T) {
	// GIVEN a Knot server
	k := localstack.StartKnotForTest(t, "caro.test.", "www IN A 192.0.2.1")

	// WHEN an update is signed with a key of the right name but another secret
	name, _, alg := k.TSIG()
	r, err := update(k.Addr(), k.Zone(), "www.caro.test.", "203.0.113.9", name, "c2VjcmV0LWJ1dC1ub3QtdGhlLXJpZ2h0LW9uZQ==", alg)

	// THEN it is refused and the record is unchanged
	if err == nil && r.Rcode == dns.RcodeSuccess {
		t.Fatal("update with a wrong secret succeeded")
	}
	if got := queryA(t, k.Addr(), "www.caro.test."); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Fatalf("www = %v, want [192.0.2.1]", got)
	}
}

func TestKnotRejectsBadRecords(t *testing.T) {
	ctx := context.Background()
	for _, rec := range []string{"www IN A not-an-ip", "www.example.com. IN A 192.0.2.1", "@ IN SOA a. b. 1 2 3 4 5"} {
		if k, err := localstack.StartKnot(ctx, "caro.test.", rec); err == nil {
			k.Stop()
			t.Errorf("StartKnot with record %q succeeded, want an error", rec)
		}
	}
}

func TestKnotStopFreesPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := localstack.StartKnot(ctx, "caro.test.")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertPortFree(t, k.Addr())
	u, err := net.ListenPacket("udp", k.Addr())
	if err != nil {
		t.Fatalf("UDP port %s still taken after Stop: %v", k.Addr(), err)
	}
	u.Close()
}
