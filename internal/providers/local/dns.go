package local

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// Resolve asks the local DNS server for the A record of the service name.
func Resolve(ctx context.Context, env *Env) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(env.Name), dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, env.DNSAddr)
	if err != nil {
		return "", fmt.Errorf("resolve %s at %s: %w", env.Name, env.DNSAddr, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("resolve %s: %s", env.Name, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String(), nil
		}
	}
	return "", fmt.Errorf("resolve %s: no A record", env.Name)
}

// PointTo replaces the service name's A record with ip in one RFC 2136 update signed with the
// zone's TSIG key: delete-RRset and add in the same message, which the server applies atomically,
// so the name is never without an answer.
func PointTo(ctx context.Context, env *Env, ip string, ttl uint32) error {
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN A %s", dns.Fqdn(env.Name), ttl, ip))
	if err != nil {
		return err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(env.Zone))
	m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: dns.Fqdn(env.Name), Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.Insert([]dns.RR{rr})
	m.SetTsig(env.TSIGName, env.TSIGAlg, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{env.TSIGName: env.TSIGSecret}}
	r, _, err := c.ExchangeContext(ctx, m, env.DNSAddr)
	if err != nil {
		return fmt.Errorf("RFC 2136 update of %s at %s: %w", env.Name, env.DNSAddr, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("RFC 2136 update of %s refused: %s", env.Name, dns.RcodeToString[r.Rcode])
	}
	return nil
}
