package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// KnotTSIGKeyName is the name of the TSIG key StartKnot allows to update its zone.
const KnotTSIGKeyName = "caro-update."

// Knot is a running Knot DNS server (knotd from the Debian package) that is authoritative for one
// zone and accepts RFC 2136 dynamic updates signed with a TSIG key (hmac-sha256). It answers over
// UDP and TCP on 127.0.0.1. Its configuration, zone file, journal and control socket live in a
// temporary folder that Stop removes.
type Knot struct {
	proc   *process
	port   int
	zone   string
	secret string
}

// StartKnot starts knotd serving zone (e.g. "caro.test.") on a free 127.0.0.1 port (UDP and TCP)
// and returns once it answers the zone's SOA. The zone holds an SOA, NS ns.<zone> with
// ns.<zone> A 127.0.0.1, and the given records in zone-file syntax; names may be relative to the
// zone and the TTL defaults to 60, e.g. "www 300 IN A 192.0.2.10" or "api.caro.test. CNAME www".
// ctx bounds the start only; the server runs until Stop. knotd is installed (apt-get, as root) if
// it is missing.
func StartKnot(ctx context.Context, zone string, records ...string) (*Knot, error) {
	zone = dns.Fqdn(strings.ToLower(strings.TrimSpace(zone)))
	if _, ok := dns.IsDomainName(zone); !ok || zone == "." {
		return nil, fmt.Errorf("start knot: zone %q is not a domain name: pass one like \"caro.test.\"", zone)
	}
	zoneFile, err := knotZoneFile(zone, records)
	if err != nil {
		return nil, err
	}
	bin, err := knotdPath()
	if err != nil {
		return nil, err
	}
	secret, err := newTSIGSecret()
	if err != nil {
		return nil, err
	}
	return startWithRetry(func() (*Knot, bool, error) { return startKnot(ctx, bin, zone, zoneFile, secret) })
}

func startKnot(ctx context.Context, bin, zone, zoneFile, secret string) (*Knot, bool, error) {
	port, err := freeUDPAndTCPPort()
	if err != nil {
		return nil, false, err
	}
	dir, err := newTempDir("knot")
	if err != nil {
		return nil, false, err
	}
	k := &Knot{port: port, zone: zone, secret: secret}
	if err := k.writeFiles(dir, zoneFile); err != nil {
		_ = removeDir(dir)
		return nil, false, err
	}
	proc, err := startProcess("knotd", dir, bin, []string{"-c", filepath.Join(dir, "knot.conf")}, nil)
	if err != nil {
		_ = removeDir(dir)
		return nil, false, err
	}
	k.proc = proc
	if err := proc.waitReady(ctx, k.ping); err != nil {
		taken := proc.addrInUse()
		_ = proc.stop()
		return nil, taken, err
	}
	return k, false, nil
}

// StartKnotForTest starts Knot for one test: it fails tb if the server does not start and stops
// it in tb.Cleanup. Prefer one server per package, started in TestMain with StartKnot.
func StartKnotForTest(tb testing.TB, zone string, records ...string) *Knot {
	tb.Helper()
	return startForTest(tb, func(ctx context.Context) (*Knot, error) { return StartKnot(ctx, zone, records...) })
}

// Addr returns the host:port to send queries and updates to (UDP or TCP), like 127.0.0.1:PORT.
func (k *Knot) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port))
}

// Zone returns the zone the server is authoritative for, fully qualified ("caro.test.").
func (k *Knot) Zone() string {
	return k.zone
}

// TSIG returns the key that may update the zone: its name (KnotTSIGKeyName), its base64 secret
// (random per server) and its algorithm (dns.HmacSHA256, "hmac-sha256."). With miekg/dns:
//
//	name, secret, alg := k.TSIG()
//	msg.SetTsig(name, alg, 300, time.Now().Unix())
//	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{name: secret}}
func (k *Knot) TSIG() (name, secret, algorithm string) {
	return KnotTSIGKeyName, k.secret, dns.HmacSHA256
}

// Logs returns the end of knotd's log (it logs every update it applies), for test failure
// messages.
func (k *Knot) Logs() string {
	return k.proc.logs()
}

// Stop ends knotd and removes its folder. Calling it again returns the first result.
func (k *Knot) Stop() error {
	return k.proc.stop()
}

// ping asks for the zone's SOA and wants an authoritative answer.
func (k *Knot) ping(ctx context.Context) error {
	m := new(dns.Msg)
	m.SetQuestion(k.zone, dns.TypeSOA)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.ExchangeContext(ctx, m, k.Addr())
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
		return fmt.Errorf("SOA %s answered %s (authoritative %v, %d answers)",
			k.zone, dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
	}
	return nil
}

// writeFiles writes knot.conf and the zone file into dir.
func (k *Knot) writeFiles(dir, zoneFile string) error {
	for _, sub := range []string{"run", "db", "zones"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("start knot: %w", err)
		}
	}
	// One worker each: tests send a handful of queries, and the machine's cores are shared.
	// zonefile-sync -1 keeps updates in the journal only (the zone file is ours, written once).
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s/run"
    listen: 127.0.0.1@%[2]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: "%[1]s/db"

log:
  - target: stderr
    any: info

key:
  - id: %[3]s
    algorithm: hmac-sha256
    secret: %[4]s

acl:
  - id: tsig-update
    key: %[3]s
    action: update

template:
  - id: default
    storage: "%[1]s/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes

zone:
  - domain: %[5]s
    file: "zone.db"
    acl: tsig-update
`, dir, k.port, KnotTSIGKeyName, k.secret, k.zone)
	if err := os.WriteFile(filepath.Join(dir, "knot.conf"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("start knot: write config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zones", "zone.db"), []byte(zoneFile), 0o600); err != nil {
		return fmt.Errorf("start knot: write zone file: %w", err)
	}
	return nil
}

// knotZoneFile builds the zone file, checking each record so a typo fails here with the record
// named rather than as a knotd start failure.
func knotZoneFile(zone string, records []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 60\n", zone)
	fmt.Fprintf(&b, "@ IN SOA ns.%[1]s hostmaster.%[1]s 1 3600 900 604800 60\n", zone)
	fmt.Fprintf(&b, "@ IN NS ns.%s\n", zone)
	fmt.Fprintf(&b, "ns.%s IN A 127.0.0.1\n", zone)
	for _, rec := range records {
		zp := dns.NewZoneParser(strings.NewReader(rec), zone, "")
		zp.SetDefaultTTL(60)
		n := 0
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			n++
			if rr.Header().Rrtype == dns.TypeSOA {
				return "", fmt.Errorf("start knot: record %q: the zone has its own SOA; leave it out", rec)
			}
			if !dns.IsSubDomain(zone, rr.Header().Name) {
				return "", fmt.Errorf("start knot: record %q: %s is outside zone %s: use a relative name or one ending in %s",
					rec, rr.Header().Name, zone, zone)
			}
			b.WriteString(rr.String())
			b.WriteByte('\n')
		}
		if err := zp.Err(); err != nil {
			return "", fmt.Errorf("start knot: record %q: %w: write it in zone-file syntax, e.g. \"www 60 IN A 192.0.2.1\"", rec, err)
		}
		if n == 0 {
			return "", fmt.Errorf("start knot: record %q is empty: pass one record per argument", rec)
		}
	}
	return b.String(), nil
}

// knotdPath installs Knot if needed and finds knotd (Debian puts it in /usr/sbin, which is not on
// every user's PATH).
func knotdPath() (string, error) {
	if err := Install("knot"); err != nil {
		return "", err
	}
	if p, err := exec.LookPath("knotd"); err == nil {
		return p, nil
	}
	if fileExists("/usr/sbin/knotd") {
		return "/usr/sbin/knotd", nil
	}
	return "", errors.New("start knot: knotd not found on PATH or in /usr/sbin: run `sudo apt-get install -y knot`")
}

// newTSIGSecret returns a random 256-bit key, base64 encoded as TSIG secrets are.
func newTSIGSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("start knot: make TSIG secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
