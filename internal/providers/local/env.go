// Package local implements failover between two "regions" on this machine, each with its own
// FerretDB, local-kms and S3 server (internal/localstack), its API health endpoint served on its own
// loopback address, and a Knot DNS server holding the service name, updated with RFC 2136. It is
// what `caro failover drill` runs: the same engine, plan and journal as on AWS, against real local servers.
// Regions may have an audit ledger (checkpoint buckets behind an Object Lock shim, a local-kms
// signing key, the peer's replica with its pinned key): the restore step then recovers the ledger
// the restore rolled back, as the AWS step does.
package local

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Env describes the local regions; `caro failover drill` writes it and the local provider reads it (the plan
// names the file and its hash, so apply runs against the environment that was planned).
type Env struct {
	// Primary is the region that serves normally.
	Primary string `json:"primary"`
	// Zone and Name: the DNS zone and the service name moved by the failover.
	Zone string `json:"zone"`
	Name string `json:"name"`
	// DNSAddr is the Knot server (host:port, UDP and TCP).
	DNSAddr    string `json:"dns_addr"`
	TSIGName   string `json:"tsig_name"`
	TSIGSecret string `json:"tsig_secret"`
	TSIGAlg    string `json:"tsig_alg"`
	// Database is the application database (default caro).
	Database string            `json:"database"`
	Regions  map[string]Region `json:"regions"`
	// StateDir holds journals, lock, pid files and logs.
	StateDir string `json:"state_dir"`
	// ServeCommand starts a region's API server: the command line, to which
	// "--env <file> --region <name>" is appended, and extra environment variables.
	ServeCommand []string `json:"serve_command"`
	ServeEnv     []string `json:"serve_env,omitempty"`
	// MaxBackupAge is the oldest backup a plan accepts, in seconds (0 = 24 h).
	MaxBackupAge float64 `json:"max_backup_age_seconds,omitempty"`
	// MaintenanceSettle is how long the restore waits, in seconds, after turning the maintenance
	// switch on before it relies on no more writes (0 = maintenance.Settle). Only a drill whose
	// regions run no writing API (its tests) shortens it.
	MaintenanceSettle float64 `json:"maintenance_settle_seconds,omitempty"`
}

// Region is one local region's servers.
type Region struct {
	MongoURI    string `json:"mongo_uri"`
	KMSEndpoint string `json:"kms_endpoint"`
	// KMSKey is the key backups are encrypted under (the standby's replica of the multi-Region key).
	KMSKey     string `json:"kms_key"`
	S3Endpoint string `json:"s3_endpoint"`
	// BackupBucket holds the backups replicated to this region.
	BackupBucket string `json:"backup_bucket"`
	// IP is this region's loopback address: the DNS name points at it and its API listens on it.
	IP string `json:"ip"`
	// APIPort is the port its API listens on.
	APIPort int `json:"api_port"`
	// LedgerS3Endpoint serves this region's audit ledger checkpoint buckets with Object Lock (the
	// ledger tests' shim in front of S3Endpoint, since gofakes3 has none). Empty: the region has no
	// audit ledger and the restore step recovers none.
	LedgerS3Endpoint string `json:"ledger_s3_endpoint,omitempty"`
	// LedgerBucket is the region's own checkpoint bucket, signed with LedgerSigningKey (a key of
	// KMSEndpoint).
	LedgerBucket     string `json:"ledger_bucket,omitempty"`
	LedgerSigningKey string `json:"ledger_signing_key,omitempty"`
	// LedgerReplicaBucket is this region's replica of the peer region's checkpoint bucket, and
	// LedgerPublicKeys the pinned public keys (DER by key ID) its checkpoints verify with: what the
	// restore step recovers the ledger from while the peer is down (on AWS the CaroReplica bucket
	// and CARO_LEDGER_PUBLIC_KEY).
	LedgerReplicaBucket string            `json:"ledger_replica_bucket,omitempty"`
	LedgerPublicKeys    map[string][]byte `json:"ledger_public_keys,omitempty"`
}

// APIBase is the base URL of a region's API, by address.
func (r Region) APIBase() string { return fmt.Sprintf("http://%s:%d/api", r.IP, r.APIPort) }

// LoadEnv reads an environment file and returns it with the file's SHA-256.
func LoadEnv(path string) (*Env, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("read local environment %s: %w: start one with `caro failover drill`", path, err)
	}
	var e Env
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, "", fmt.Errorf("local environment %s is not valid JSON: %w", path, err)
	}
	if e.Database == "" {
		e.Database = "caro"
	}
	sum := sha256.Sum256(b)
	return &e, hex.EncodeToString(sum[:]), nil
}

// WriteEnv writes e to path (mode 0600: it holds the TSIG secret).
func WriteEnv(path string, e *Env) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Region returns the named region or an error naming the known ones.
func (e *Env) Region(name string) (Region, error) {
	r, ok := e.Regions[name]
	if !ok {
		var names []string
		for n := range e.Regions {
			names = append(names, n)
		}
		sort.Strings(names)
		return Region{}, fmt.Errorf("region %q is not in the local environment (it has %v)", name, names)
	}
	return r, nil
}
