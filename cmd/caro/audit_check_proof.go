package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

func newAuditCheckProofCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	var fingerprint string
	cmd := &cobra.Command{
		Use:   "check-proof <file|->",
		Short: "Check an inclusion proof from 'caro audit prove' offline (no database, no AWS)",
		Long: `Recomputes the entry's leaf hash from the event in the proof, verifies the audit path against the
checkpoint's Merkle root, and the checkpoint's signature with the public key. Pin the key with
--public-key FILE (or KEYID=FILE repeated, for a ledger signed in two regions: the key the
checkpoint names is used) or --key-fingerprint SHA256HEX; without a pin the key inside the proof is
trusted, which shows the proof is consistent but not who signed it (a warning says so).
Without either flag the keys pinned in the configuration are used (setting ledger-public-keys:
CARO_LEDGER_PUBLIC_KEY, else regions/environment.json, compiled into caro); stderr names them.

Exit status: 0 the proof holds, 2 it does not, 1 it could not be read.`,
		Example: `  caro audit check-proof proof.json
  caro audit check-proof proof.json --public-key ledger.pem -o json
  caro audit prove <event-id> | caro audit check-proof - --key-fingerprint <sha256-hex>`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validateOutput(); err != nil {
				return err
			}
			keys, err := checkProofKeys(cmd, streams.ErrOut, f, fingerprint)
			if err != nil {
				return err
			}
			pinned, ring := keys.Single, keys.ByKeyID
			var raw []byte
			if args[0] == "-" {
				raw, err = io.ReadAll(streams.In)
			} else {
				raw, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("reading the proof: %w", err)
			}
			// A proof in any other form than prove writes (a field renamed in another letter case,
			// added or given twice, a hash in upper case) proves nothing: it does not hold (exit 2).
			p, err := ledger.ParseProof(raw)
			if err != nil {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("proof does not hold: %s is not an inclusion proof in the form caro audit prove writes: %w", args[0], err)}
			}
			if ring != nil {
				// Several keys pinned (both regions' after a failover): the one the checkpoint names.
				var id string
				if p.Checkpoint != nil {
					id = p.Checkpoint.KeyID
				}
				if pinned = ring[id]; pinned == nil {
					return &exitError{code: exitAuditFailed, err: fmt.Errorf("proof does not hold: its checkpoint is signed by key %q, which is not one of the pinned keys", id)}
				}
			}
			if fingerprint != "" && fingerprint != p.PublicKeySHA256 {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("proof does not hold: signed by key %s, not the pinned %s", p.PublicKeySHA256, fingerprint)}
			}
			if pinned == nil && fingerprint == "" {
				fmt.Fprintf(streams.ErrOut, "warning: no key pinned; trusting the key in the proof (fingerprint %s). Pin it with --public-key or --key-fingerprint, or in regions/environment.json (setting ledger-public-keys).\n", p.PublicKeySHA256)
			}
			verr := p.Verify(pinned)
			result := struct {
				OK          bool   `json:"ok"`
				EntryID     string `json:"entryId"`
				LeafIndex   uint64 `json:"leafIndex"`
				Checkpoint  uint64 `json:"checkpoint"`
				TreeSize    uint64 `json:"treeSize"`
				Fingerprint string `json:"publicKeySha256"`
				Reason      string `json:"reason,omitempty"`
			}{OK: verr == nil, EntryID: p.EntryID, LeafIndex: p.LeafIndex, TreeSize: p.TreeSize, Fingerprint: p.PublicKeySHA256}
			if p.Checkpoint != nil {
				result.Checkpoint = p.Checkpoint.Number
			}
			if verr != nil {
				result.Reason = verr.Error()
			}
			if f.output == "json" {
				if err := writeJSON(streams.Out, result); err != nil {
					return err
				}
			} else if verr == nil {
				fmt.Fprintf(streams.Out, "proof OK: event %s is entry %d of the ledger, anchored by checkpoint %d (tree size %d), signed by key %s\n",
					p.EntryID, p.LeafIndex, result.Checkpoint, p.TreeSize, p.PublicKeySHA256)
			} else {
				fmt.Fprintf(streams.Out, "proof FAILED: %s\n", verr)
			}
			if verr != nil {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("proof does not hold: %w", verr)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&fingerprint, "key-fingerprint", "", "hex SHA-256 of the trusted public key (DER)")
	return cmd
}

// checkProofKeys are the keys a proof is checked against: --public-key; else, unless
// --key-fingerprint pins the key, the keys pinned in the configuration (setting
// ledger-public-keys, resolved without AWS: an auditor's check is offline), named on w. None is
// an empty set (the proof's own key is trusted, with a warning).
func checkProofKeys(cmd *cobra.Command, w io.Writer, f *auditFlags, fingerprint string) (pinnedkeys.Set, error) {
	if cmd.Flags().Changed("public-key") {
		return pinnedkeys.Load("--public-key", f.publicKeys...)
	}
	if fingerprint != "" {
		return pinnedkeys.Set{}, nil
	}
	ctx := cmd.Context()
	cfg, err := loadConfig(ctx, cmd, "", true)
	if err != nil {
		// A region the definitions lack (AWS_REGION of another account) does not matter here:
		// the pins are the environment's.
		if cfg, err = loadConfig(ctx, cmd, primaryRegion(), true); err != nil {
			return pinnedkeys.Set{}, err
		}
	}
	v := cfg.Value(ctx, config.KeyLedgerPublicKeys)
	if !v.Found() {
		return pinnedkeys.Set{}, nil
	}
	keys, err := pinnedkeys.Load("setting "+v.Key+" ("+v.Source+")", v.Value)
	if err == nil {
		fmt.Fprintf(w, "pinned keys: setting %s (%s)\n", v.Key, v.Source)
	}
	return keys, err
}
