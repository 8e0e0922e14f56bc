package main

import (
	"encoding/pem"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config/awscloud"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// auditPublicKey is one key of `caro audit public-key -o json`.
type auditPublicKey struct {
	KeyID       string `json:"keyId"`
	Fingerprint string `json:"publicKeySha256"`
	PEM         string `json:"pem"`
	// Pinned is the key's item as regions/environment.json pins it ("ledgerPublicKeys") and the
	// peer region's writer takes it: <key ARN>=<base64 DER>.
	Pinned string `json:"pinned"`
}

func newAuditPublicKeyCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "public-key",
		Short: "Print the ledger signing key's public key (PEM) for pinning in offline checks",
		Long: `Fetches the public key of the checkpoint signing key from KMS and prints it as PEM on stdout,
with its SHA-256 fingerprint (of the DER form) on stderr. Publish both; auditors pin them with
"caro audit verify --public-key FILE" and "caro audit check-proof --public-key FILE" or
"--key-fingerprint" (for a ledger signed in two regions: --public-key KEYID=FILE for each).
stderr also gives the key as regions/environment.json pins it ("ledgerPublicKeys") and the peer
region's audit writer takes it: a <key ARN>=<base64 DER> item. -o json prints all of it on stdout.

The key is the region's signing key (setting ledger-signing-key: the platform stack's output
LedgerSigningKeyArn), or --signing-key, which may be repeated.`,
		Example: `  caro audit public-key --region eu-west-1 > ledger-eu-west-1.pem
  caro audit public-key --region eu-central-1 -o json
  caro audit public-key --signing-key arn:aws:kms:eu-west-1:<account>:key/<id> --signing-key arn:aws:kms:eu-central-1:<account>:key/<id>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validateOutput(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if _, err := f.complete(ctx, cmd, streams.ErrOut, needSigningKeys); err != nil {
				return err
			}
			arns := nonEmpty(f.signingKeys)
			if len(arns) == 0 {
				return fmt.Errorf("no signing key: pass --signing-key <key ARN> (the platform stack's output LedgerSigningKeyArn)")
			}
			kms := kmsClients(&awscloud.Cloud{})
			var keys []auditPublicKey
			for _, arn := range arns {
				der, err := ledger.SigningKeyPublicKey(ctx, kms, f.region, arn)
				if err != nil {
					return err
				}
				k := auditPublicKey{KeyID: arn, Fingerprint: ledger.KeyFingerprint(der), PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
					Pinned: pinnedkeys.Key{KeyArn: arn, DER: der}.String()}
				keys = append(keys, k)
				if f.output == "text" {
					fmt.Fprintf(streams.ErrOut, "key %s\nfingerprint (SHA-256 of DER) %s\npinned item (regions/environment.json ledgerPublicKeys, the peer region's writer): %s\n",
						arn, k.Fingerprint, k.Pinned)
					fmt.Fprint(streams.Out, k.PEM)
				}
			}
			if f.output == "json" {
				return writeJSON(streams.Out, keys)
			}
			return nil
		},
	}
}
