package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

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
	bucket         string
	region         string
	signingKey     string
	publicKey      string
	retentionYears int
	output         string
}

func newAuditCmd(streams IOStreams) *cobra.Command {
	f := &auditFlags{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit ledger, prove or check that an event is in it, recover it after a restore",
		Long: `The audit ledger (internal/ledger) is a hash chain of audit events in MongoDB, anchored by
signed Merkle checkpoints in an S3 bucket with Object Lock in COMPLIANCE mode.

AWS access uses the default credential chain; AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS point the
commands at local servers (path-style S3 then).`,
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.mongoURI, "mongodb-uri", os.Getenv("CARO_MONGODB_URI"), "MongoDB connection string (CARO_MONGODB_URI)")
	p.StringVar(&f.database, "database", auditEnvOr("CARO_DATABASE", "caro"), "database name (CARO_DATABASE)")
	p.StringVar(&f.bucket, "bucket", os.Getenv("CARO_LEDGER_BUCKET"), "checkpoint bucket (CARO_LEDGER_BUCKET)")
	p.StringVar(&f.region, "region", auditEnvOr("CARO_REGION", os.Getenv("AWS_REGION")), "AWS region (CARO_REGION)")
	p.StringVar(&f.signingKey, "signing-key", os.Getenv("CARO_LEDGER_SIGNING_KEY_ARN"), "KMS signing key ARN, to fetch its public key (CARO_LEDGER_SIGNING_KEY_ARN)")
	p.StringVar(&f.publicKey, "public-key", "", "PEM or DER file with the ledger's public key (instead of asking KMS; pins the key)")
	p.IntVar(&f.retentionYears, "retention-years", auditEnvInt("CARO_LEDGER_RETENTION_YEARS", ledger.DefaultRetentionYears), "minimum Object Lock retention of each checkpoint, in years")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(newAuditVerifyCmd(streams, f), newAuditProveCmd(streams, f), newAuditCheckProofCmd(streams, f), newAuditPublicKeyCmd(streams, f), newAuditRecoverCmd(streams, f))
	return cmd
}

func auditEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
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
	case f.bucket == "":
		return errors.New("no checkpoint bucket: pass --bucket or set CARO_LEDGER_BUCKET")
	case f.region == "":
		return errors.New("no region: pass --region or set CARO_REGION")
	case f.signingKey == "" && f.publicKey == "":
		return errors.New("no key to verify signatures with: pass --public-key FILE or --signing-key ARN (or set CARO_LEDGER_SIGNING_KEY_ARN)")
	case f.retentionYears < 1:
		return fmt.Errorf("invalid --retention-years %d: give at least 1", f.retentionYears)
	}
	return nil
}

// auditLedger is what the verify and prove commands work on.
type auditLedger struct {
	store     *ledger.MongoStore
	bucket    *ledger.CheckpointBucket
	publicKey []byte // DER
	close     func()
}

// openAuditLedger connects to the database, the bucket and (unless --public-key) KMS.
func openAuditLedger(ctx context.Context, f *auditFlags) (*auditLedger, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(f.region))
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	l := &auditLedger{}
	if f.publicKey != "" {
		if l.publicKey, err = auditReadPublicKey(f.publicKey); err != nil {
			return nil, err
		}
	} else {
		signer := &ledger.KMSSigner{Client: kms.NewFromConfig(cfg), Key: f.signingKey}
		if l.publicKey, err = signer.PublicKey(ctx); err != nil {
			return nil, fmt.Errorf("fetching the ledger public key: %w (or pass --public-key FILE)", err)
		}
	}
	client, err := mongo.Connect(options.Client().ApplyURI(f.mongoURI))
	if err != nil {
		return nil, fmt.Errorf("connecting to MongoDB: %w", err)
	}
	l.close = func() { _ = client.Disconnect(context.Background()) }
	l.store = ledger.NewMongoStore(client.Database(f.database))
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	l.bucket = &ledger.CheckpointBucket{Name: f.bucket, Client: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })}
	return l, nil
}

// auditReadPublicKey reads a PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo file.
func auditReadPublicKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --public-key: %w", err)
	}
	der := raw
	if b, _ := pem.Decode(raw); b != nil {
		der = b.Bytes
	}
	if _, err := ledger.ParsePublicKey(der); err != nil {
		return nil, fmt.Errorf("--public-key %s: %w (want a PEM PUBLIC KEY or DER SubjectPublicKeyInfo)", path, err)
	}
	return der, nil
}

func auditWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
