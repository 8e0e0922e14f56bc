package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/ledger"
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

Exit status: 0 the proof holds, 2 it does not, 1 it could not be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validateOutput(); err != nil {
				return err
			}
			pinned, ring, err := auditPinnedKeys(f.publicKeys)
			if err != nil {
				return err
			}
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
				fmt.Fprintf(streams.ErrOut, "warning: no key pinned; trusting the key in the proof (fingerprint %s). Pin it with --public-key or --key-fingerprint.\n", p.PublicKeySHA256)
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
