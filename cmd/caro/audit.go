package main

import (
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/ledger"
)

func init() { registerCommand(newAuditCmd) }

// exitAuditFailed is the exit status when the ledger, a checkpoint or a proof does not verify
// (1 stays "could not run").
const exitAuditFailed = 2

// auditFlags are shared by the audit subcommands; defaults come from the variables the audit
// writer function uses, so an operator shell and the function agree.
type auditFlags struct {
	mongoURI       string
	database       string
	buckets        []string
	region         string
	signingKeys    []string
	publicKeys     []string
	retentionYears int
	output         string
}

func newAuditCmd(streams IOStreams) *cobra.Command {
	f := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit ledger, prove or check that an event is in it, recover it after a restore (or release its hold)",
		Long: `The audit ledger (internal/ledger) is a hash chain of audit events in MongoDB, anchored by
signed Merkle checkpoints in an S3 bucket with Object Lock in COMPLIANCE mode.

AWS access uses the default credential chain; AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS point the
commands at local servers (path-style S3 then).`,
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.mongoURI, "mongodb-uri", os.Getenv("CARO_MONGODB_URI"), "MongoDB connection string (CARO_MONGODB_URI)")
	p.StringVar(&f.database, "database", auditEnvOr("CARO_DATABASE", "caro"), "database name (CARO_DATABASE)")
	p.StringArrayVar(&f.buckets, "bucket", auditEnvList("CARO_LEDGER_BUCKET", "CARO_LEDGER_REPLICA_BUCKET"),
		"checkpoint bucket, repeatable: after a failover the region's own bucket and its replica of the peer's, read as one series (CARO_LEDGER_BUCKET, CARO_LEDGER_REPLICA_BUCKET)")
	p.StringVar(&f.region, "region", auditEnvOr("CARO_REGION", os.Getenv("AWS_REGION")), "AWS region of the buckets (CARO_REGION)")
	p.StringArrayVar(&f.signingKeys, "signing-key", auditEnvList("CARO_LEDGER_SIGNING_KEY_ARN"),
		"KMS signing key ARN, to fetch its public key; repeat for each region's key (each checkpoint is then checked with the key it names) (CARO_LEDGER_SIGNING_KEY_ARN)")
	p.StringArrayVar(&f.publicKeys, "public-key", nil,
		"pinned public key instead of asking KMS: FILE (PEM or DER, one key), or KEYID=FILE repeated for several keys, KEYID the key ARN the checkpoints name")
	p.IntVar(&f.retentionYears, "retention-years", auditEnvInt("CARO_LEDGER_RETENTION_YEARS", ledger.DefaultRetentionYears), "minimum Object Lock retention of each checkpoint, in years")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(newAuditVerifyCmd(streams, f), newAuditProveCmd(streams, f), newAuditCheckProofCmd(streams, f), newAuditPublicKeyCmd(streams, f), newAuditRecoverCmd(streams, f),
		newAuditReleaseHoldCmd(streams, f))
	return cmd
}

func auditEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// auditEnvList is the non-empty values of the variables, in order.
func auditEnvList(names ...string) []string {
	var out []string
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			out = append(out, v)
		}
	}
	return out
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

func auditEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func (f *auditFlags) validateOutput() error {
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("invalid --output %q: use text or json", f.output)
	}
	return nil
}

// validateLedger checks what a command reading the ledger and bucket needs.
func (f *auditFlags) validateLedger() error {
	if err := f.validateOutput(); err != nil {
		return err
	}
	switch {
	case f.mongoURI == "":
		return errors.New("no database: pass --mongodb-uri or set CARO_MONGODB_URI")
	case len(nonEmpty(f.buckets)) == 0:
		return errors.New("no checkpoint bucket: pass --bucket or set CARO_LEDGER_BUCKET")
	case f.region == "":
		return errors.New("no region: pass --region or set CARO_REGION")
	case len(nonEmpty(f.signingKeys)) == 0 && len(nonEmpty(f.publicKeys)) == 0:
		return errors.New("no key to verify signatures with: pass --public-key FILE or --signing-key ARN (or set CARO_LEDGER_SIGNING_KEY_ARN)")
	case f.retentionYears < 1:
		return fmt.Errorf("invalid --retention-years %d: give at least 1", f.retentionYears)
	}
	_, _, err := auditPinnedKeys(f.publicKeys)
	return err
}

// auditPinnedKeys reads the --public-key values: one FILE is a single key (checkpoints of any key
// ID), KEYID=FILE values are a key ring. Mixing the forms, or several FILEs without IDs, is refused.
func auditPinnedKeys(values []string) (single []byte, ring map[string][]byte, err error) {
	return pinnedKeys("--public-key", values)
}

// pinnedKeys reads pinned ledger public keys given by source (the --public-key flag, or
// CARO_LEDGER_PUBLIC_KEY of the failover's restore step, which takes the same values): one FILE
// is a single key (checkpoints of any key ID), KEYID=FILE values are a key ring. Mixing the
// forms, or several FILEs without IDs, is refused. Errors name source and the file, never its
// content.
func pinnedKeys(source string, values []string) (single []byte, ring map[string][]byte, err error) {
	values = nonEmpty(values)
	var plain []string
	for _, v := range values {
		id, file, ok := strings.Cut(v, "=")
		if !ok {
			plain = append(plain, v)
			continue
		}
		if id == "" || file == "" {
			return nil, nil, fmt.Errorf("invalid %s %q: give KEYID=FILE, KEYID the key ARN the checkpoints name", source, v)
		}
		der, err := readPinnedKey(source, file)
		if err != nil {
			return nil, nil, err
		}
		if ring == nil {
			ring = map[string][]byte{}
		}
		if _, dup := ring[id]; dup {
			return nil, nil, fmt.Errorf("invalid %s: key %s is given twice", source, id)
		}
		ring[id] = der
	}
	switch {
	case len(plain) > 0 && ring != nil, len(plain) > 1:
		return nil, nil, fmt.Errorf("several %s values need their key IDs: give each as KEYID=FILE (KEYID the key ARN the checkpoints name)", source)
	case len(plain) == 1:
		single, err = readPinnedKey(source, plain[0])
	}
	return single, ring, err
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

// openAuditLedger connects to the database, the bucket(s) and (unless --public-key) KMS.
func openAuditLedger(ctx context.Context, f *auditFlags) (*auditLedger, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(f.region))
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	l := &auditLedger{}
	if l.publicKey, l.publicKeys, err = auditPinnedKeys(f.publicKeys); err != nil {
		return nil, err
	}
	if l.publicKey == nil && l.publicKeys == nil {
		arns := nonEmpty(f.signingKeys)
		for _, arn := range arns {
			kcfg := cfg.Copy()
			// A key of the other region is asked in its own region (its ARN says which).
			if parts := strings.Split(arn, ":"); len(parts) > 3 && strings.HasPrefix(arn, "arn:") && parts[3] != "" {
				kcfg.Region = parts[3]
			}
			der, err := (&ledger.KMSSigner{Client: kms.NewFromConfig(kcfg), Key: arn}).PublicKey(ctx)
			if err != nil {
				return nil, fmt.Errorf("fetching the ledger public key: %w (or pass --public-key FILE)", err)
			}
			if len(arns) == 1 {
				l.publicKey = der
				break
			}
			if l.publicKeys == nil {
				l.publicKeys = map[string][]byte{}
			}
			l.publicKeys[arn] = der
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(f.mongoURI))
	if err != nil {
		return nil, fmt.Errorf("connecting to MongoDB: %w", err)
	}
	l.close = func() { _ = client.Disconnect(context.Background()) }
	l.store = ledger.NewMongoStore(client.Database(f.database))
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	var buckets []*ledger.CheckpointBucket
	for _, name := range nonEmpty(f.buckets) {
		buckets = append(buckets, &ledger.CheckpointBucket{Name: name, Client: s3c})
	}
	l.checkpoints = ledger.BucketsSource(buckets...)
	return l, nil
}

// auditReadPublicKey reads a PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo file.
func auditReadPublicKey(path string) ([]byte, error) { return readPinnedKey("--public-key", path) }

// readPinnedKey reads a PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo file given by source. The
// path is named, the file's content never echoed (it may be a private key given by mistake).
func readPinnedKey(source, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named already
		}
		return nil, fmt.Errorf("%s %s cannot be read (%v)", source, path, err)
	}
	der := raw
	if b, _ := pem.Decode(raw); b != nil {
		der = b.Bytes
	}
	if _, err := ledger.ParsePublicKey(der); err != nil {
		return nil, fmt.Errorf("%s %s is not a PEM public key (want the PUBLIC KEY block 'caro audit public-key' prints, or its DER SubjectPublicKeyInfo)", source, path)
	}
	return der, nil
}
