package main

import (
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

func newAuditPublicKeyCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "public-key",
		Short: "Print the ledger signing key's public key (PEM) for pinning in offline checks",
		Long: `Fetches the public key of the checkpoint signing key from KMS and prints it as PEM on stdout,
with its SHA-256 fingerprint (of the DER form) on stderr. Publish both; auditors pin them with
"caro audit verify --public-key FILE" and "caro audit check-proof --public-key FILE" or
"--key-fingerprint" (for a ledger signed in two regions: --public-key KEYID=FILE for each).
stderr also gives the key as the peer region's audit writer pins it, a
CARO_LEDGER_PEER_PUBLIC_KEYS item (<key ARN>=<base64 DER>). --signing-key may be repeated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			arns := nonEmpty(f.signingKeys)
			if len(arns) == 0 {
				return errors.New("no signing key: pass --signing-key ARN or set CARO_LEDGER_SIGNING_KEY_ARN")
			}
			if f.region == "" {
				return errors.New("no region: pass --region or set CARO_REGION")
			}
			cfg, err := config.LoadDefaultConfig(cmd.Context(), config.WithRegion(f.region))
			if err != nil {
				return fmt.Errorf("loading AWS configuration: %w", err)
			}
			for _, arn := range arns {
				der, err := (&ledger.KMSSigner{Client: kms.NewFromConfig(cfg), Key: arn}).PublicKey(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.ErrOut, "key %s\nfingerprint (SHA-256 of DER) %s\npeer region's writer (CARO_LEDGER_PEER_PUBLIC_KEYS item): %s\n",
					arn, ledger.KeyFingerprint(der), pinnedkeys.Key{KeyArn: arn, DER: der})
				if err := pem.Encode(streams.Out, &pem.Block{Type: "PUBLIC KEY", Bytes: der}); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
