package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	caroconfig "github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/config/awscloud"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

func init() { registerCommand(newAuditCmd) }

// exitAuditFailed is the exit status when the ledger, a checkpoint or a proof does not verify
// (1 stays "could not run").
const exitAuditFailed = 2

// auditFlags are shared by the audit subcommands. A flag's default is a constant; what the
// operator did not pass is resolved after parsing from the configuration (complete), so help
// never shows a value from the environment.
type auditFlags struct {
	mongoURI       string
	database       string
	buckets        []string
	region         string
	signingKeys    []string
	publicKeys     []string
	retentionYears int
	output         string

	// Filled by complete (or by the caller that builds auditFlags itself).
	// publicKeySource names where publicKeys came from, in errors ("--public-key" or a setting).
	publicKeySource string
	// optionalBuckets are the replica buckets that may not exist (found by their conventional
	// name only): one that cannot be read is skipped with a warning instead of failing the command.
	optionalBuckets []string
	s3PathStyle     bool
	// pinned is publicKeys read (validateLedger).
	pinned pinnedkeys.Set
}

func newAuditCmd(streams IOStreams) *cobra.Command {
	f := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit ledger, prove or check that an event is in it, recover it after a restore (or release its hold)",
		Long: `The audit ledger (internal/ledger) is a hash chain of audit events in MongoDB, anchored by
signed Merkle checkpoints in an S3 bucket with Object Lock in COMPLIANCE mode.

What a flag leaves out comes from the configuration of the region (docs/settings.md; 'caro config
view' shows it), each value named on stderr with its source: the database from mongodb-uri (the
secret caro/<region>/mongodb-uri), the checkpoint buckets from ledger-bucket and
ledger-replica-bucket (the platform stack's output, else their conventional names), the keys from
ledger-public-keys (pinned in regions/environment.json) and ledger-signing-key (the stack's
output, its public key asked from KMS). Only 'caro audit recover' and 'caro audit release-hold',
which write, need the database named with --mongodb-uri.

AWS access uses the default credential chain; AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS point the
commands at local servers (path-style S3 then).`,
		Example: `  caro audit verify --region eu-west-1
  caro audit prove <event-id> > proof.json && caro audit check-proof proof.json
  caro audit recover --mongodb-uri "$MONGODB_URI" --yes`,
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.mongoURI, "mongodb-uri", "", "MongoDB connection string of the ledger's database (default: setting mongodb-uri, the secret caro/<region>/mongodb-uri)")
	p.StringVar(&f.database, "database", "", "application database holding the ledger (default: setting database, caro)")
	p.StringArrayVar(&f.buckets, "bucket", nil,
		"checkpoint bucket, repeatable: after a failover the region's own bucket and its replica of the peer's, read as one series (default: settings ledger-bucket and ledger-replica-bucket)")
	p.StringVar(&f.region, "region", "", "AWS region of the ledger (default: setting region, else the primary region)")
	p.StringArrayVar(&f.signingKeys, "signing-key", nil,
		"KMS signing key ARN, to fetch its public key; repeat for each region's key (each checkpoint is then checked with the key it names) (default: setting ledger-signing-key)")
	p.StringArrayVar(&f.publicKeys, "public-key", nil,
		"pinned public key instead of asking KMS: FILE (PEM or DER, one key), or KEYID=FILE or KEYID=<base64 DER> repeated for several keys, KEYID the key ARN the checkpoints name (default: setting ledger-public-keys)")
	p.IntVar(&f.retentionYears, "retention-years", 0, "minimum Object Lock retention of each checkpoint, in years (default: setting ledger-retention-years, the region's retentionYears)")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(newAuditVerifyCmd(streams, f), newAuditProveCmd(streams, f), newAuditCheckProofCmd(streams, f), newAuditPublicKeyCmd(streams, f), newAuditRecoverCmd(streams, f),
		newAuditReleaseHoldCmd(streams, f))
	return cmd
}

// nonEmpty drops empty values (a flag given as --bucket "").
func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (f *auditFlags) validateOutput() error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("invalid --output %q: use text or json", f.output)
	}
	return nil
}

// auditNeed says which settings an audit command needs resolved.
type auditNeed int

const (
	// needDatabase: the ledger's database (mongodb-uri, database).
	needDatabase auditNeed = 1 << iota
	// needCheckpoints: the checkpoint buckets, the keys to verify them with and their retention.
	needCheckpoints
	// needSigningKeys: the KMS signing keys only (caro audit public-key).
	needSigningKeys
)

// complete is the Complete step of the audit commands: after parsing, what the operator did not
// pass comes from the configuration of the region (flag > environment override > stack output,
// secret or parameter > committed files > default; internal/config), and w names each value taken
// from it with its source (secrets masked). It returns the configuration for the command's own
// settings.
func (f *auditFlags) complete(ctx context.Context, cmd *cobra.Command, w io.Writer, need auditNeed) (*caroconfig.Config, error) {
	cfg, err := loadConfig(ctx, cmd, "", false)
	if err != nil {
		return nil, err
	}
	passed := cmd.Flags().Changed
	setting := func(key string) caroconfig.Value {
		v := cfg.Value(ctx, key)
		if v.Found() {
			fmt.Fprintf(w, "setting %s = %s (%s)\n", v.Key, shortValue(v.Display()), v.Source)
		}
		return v
	}
	f.region = cfg.Region()
	f.s3PathStyle = cfg.Value(ctx, caroconfig.KeyS3Endpoint).Found()
	if need&needDatabase != 0 {
		if !passed("mongodb-uri") {
			v := setting(caroconfig.KeyMongoURI)
			if err := v.Err(); err != nil {
				return nil, fmt.Errorf("no ledger database: pass --mongodb-uri, or: %w", err)
			}
			f.mongoURI = v.Value
		}
		if !passed("database") {
			f.database = setting(caroconfig.KeyDatabase).Value
		}
	}
	if need&needCheckpoints != 0 {
		if err := f.completeCheckpoints(passed, setting); err != nil {
			return nil, err
		}
	}
	if need&(needCheckpoints|needSigningKeys) != 0 && !passed("public-key") && !passed("signing-key") {
		if need&needCheckpoints != 0 {
			if v := setting(caroconfig.KeyLedgerPublicKeys); v.Found() {
				f.publicKeys, f.publicKeySource = []string{v.Value}, "setting "+v.Key+" ("+v.Source+")"
			}
		}
		if v := setting(caroconfig.KeyLedgerSigningKey); v.Found() {
			f.signingKeys = []string{v.Value}
		} else if need&needSigningKeys != 0 {
			return nil, fmt.Errorf("no signing key: pass --signing-key <key ARN>, or: %w", v.Err())
		}
	}
	return cfg, nil
}

// shortValue keeps a progress line readable: long values (pinned keys' base64) are cut.
func shortValue(s string) string {
	if len(s) > 100 {
		return s[:80] + "..."
	}
	return s
}

// completeCheckpoints resolves the checkpoint buckets and the retention their locks must have.
func (f *auditFlags) completeCheckpoints(passed func(string) bool, setting func(string) caroconfig.Value) error {
	if !passed("bucket") {
		own := setting(caroconfig.KeyLedgerBucket)
		if err := own.Err(); err != nil {
			return fmt.Errorf("no checkpoint bucket: pass --bucket <name> (repeat it for the replica of the peer's), or: %w", err)
		}
		f.buckets = []string{own.Value}
		// The replica of the peer's bucket holds the checkpoints the peer cut after a failover;
		// found only by its conventional name, it may not exist (a single region).
		if rep := setting(caroconfig.KeyLedgerReplicaBucket); rep.Found() && rep.Value != own.Value {
			f.buckets = append(f.buckets, rep.Value)
			if strings.HasPrefix(rep.Source, string(caroconfig.KindDerived)) {
				f.optionalBuckets = append(f.optionalBuckets, rep.Value)
			}
		}
	}
	if !passed("retention-years") {
		v := setting(caroconfig.KeyLedgerRetentionYears)
		n, err := strconv.Atoi(v.Value)
		if err != nil {
			return fmt.Errorf("invalid setting %s %q (%s): give a whole number of years", v.Key, v.Value, v.Source)
		}
		f.retentionYears = n
	}
	return nil
}

// durationSetting is a duration flag's value when the operator passed it, else its setting's
// (said on w with its source).
func durationSetting(ctx context.Context, cmd *cobra.Command, cfg *caroconfig.Config, w io.Writer, flag, key string, dst *time.Duration) error {
	if cmd.Flags().Changed(flag) {
		return nil
	}
	v := cfg.Value(ctx, key)
	d, err := time.ParseDuration(v.Value)
	if err != nil || d <= 0 {
		return fmt.Errorf("invalid setting %s %q (%s): give a duration like 5m", v.Key, v.Value, v.Source)
	}
	fmt.Fprintf(w, "setting %s = %s (%s)\n", v.Key, v.Value, v.Source)
	*dst = d
	return nil
}

// validateLedger checks what a command reading the ledger and bucket needs, after complete.
func (f *auditFlags) validateLedger() error {
	if err := f.validateOutput(); err != nil {
		return err
	}
	switch {
	case f.mongoURI == "":
		return errors.New("no ledger database: pass --mongodb-uri (or set the setting mongodb-uri: caro config view shows where it is looked for)")
	case len(nonEmpty(f.buckets)) == 0:
		return errors.New("no checkpoint bucket: pass --bucket <name> (or set the setting ledger-bucket)")
	case f.region == "":
		return errors.New("no region: pass --region")
	case f.retentionYears < 1:
		return fmt.Errorf("invalid --retention-years %d: give at least 1", f.retentionYears)
	}
	var err error
	if f.pinned, err = pinnedkeys.Load(f.keySource(), f.publicKeys...); err != nil {
		return err
	}
	if f.pinned.Empty() && len(nonEmpty(f.signingKeys)) == 0 {
		return errors.New("no key to verify signatures with: pass --public-key FILE or --signing-key ARN, or pin the keys in regions/environment.json (setting ledger-public-keys)")
	}
	return nil
}

func (f *auditFlags) keySource() string {
	if f.publicKeySource == "" {
		return "--public-key"
	}
	return f.publicKeySource
}

// auditLedger is what the verify, prove and recover commands work on.
type auditLedger struct {
	store *ledger.MongoStore
	// checkpoints is where the checkpoints are read: one bucket, or several merged (its Name
	// names them, like s3://a, s3://b).
	checkpoints ledger.CheckpointSource
	// publicKey (DER) is the single pinned key, publicKeys the key ring by key ID; one is set.
	publicKey  []byte
	publicKeys map[string][]byte
	close      func()
}

// keys returns the verifier's key (single) or ring.
func (l *auditLedger) keys() (crypto.PublicKey, ledger.KeyRing, error) {
	if len(l.publicKeys) > 0 {
		ring, err := ledger.NewKeyRing(l.publicKeys)
		return nil, ring, err
	}
	pub, err := ledger.ParsePublicKey(l.publicKey)
	return pub, nil, err
}

// keyLabel names the pinned key(s) for progress lines: fingerprint prefixes.
func (l *auditLedger) keyLabel() string {
	if len(l.publicKeys) == 0 {
		return "key " + ledger.KeyFingerprint(l.publicKey)[:16]
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(l.publicKeys)) {
		parts = append(parts, id+" "+ledger.KeyFingerprint(l.publicKeys[id])[:16])
	}
	return "keys " + strings.Join(parts, ", ")
}

// openAuditLedger connects to the database, the bucket(s) and, for signing keys not pinned, KMS;
// w gets the warnings (an optional bucket skipped).
func openAuditLedger(ctx context.Context, f *auditFlags, w io.Writer) (*auditLedger, error) {
	cloud := &awscloud.Cloud{PathStyleS3: f.s3PathStyle}
	s3c, err := cloud.S3(ctx, f.region)
	if err != nil {
		return nil, err
	}
	anchors, err := ledger.OpenAnchors(ctx, ledger.AnchorsOptions{Buckets: f.buckets, OptionalBuckets: f.optionalBuckets, S3: s3c,
		Pinned: f.pinned, SigningKeys: f.signingKeys, KMS: kmsClients(cloud), Region: f.region})
	if err != nil {
		return nil, fmt.Errorf("%w (or pin it: --public-key FILE)", err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(f.mongoURI))
	if err != nil {
		return nil, fmt.Errorf("connecting to MongoDB: %w", err)
	}
	for _, b := range anchors.Skipped {
		fmt.Fprintf(w, "WARNING: checkpoint bucket s3://%s (the replica of the peer's, perhaps named by convention only) cannot be read (%v): reading the checkpoints without it; pass --bucket to name the buckets\n", b.Name, b.Err)
	}
	return &auditLedger{store: ledger.NewMongoStore(client.Database(f.database)), checkpoints: anchors.Checkpoints,
		publicKey: anchors.PublicKey, publicKeys: anchors.PublicKeys, close: func() { _ = client.Disconnect(context.Background()) }}, nil
}

// kmsClients gives the ledger the KMS client of a region.
func kmsClients(cloud *awscloud.Cloud) ledger.KMSClients {
	return func(ctx context.Context, region string) (ledger.KMSAPI, error) { return cloud.KMS(ctx, region) }
}
