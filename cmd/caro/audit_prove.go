package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/ledger"
)

func newAuditProveCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "prove <event-id>",
		Short: "Print an inclusion proof (JSON) that an audit event is in the ledger, checkable offline",
		Long: `Prints, as JSON on stdout, the ledger entry of the event, its RFC 6962 audit path to the root of
the first checkpoint that covers it, that signed checkpoint and the public key. Anyone can check it
without database access with "caro audit check-proof FILE", or by hand (see internal/ledger
InclusionProof: recompute the leaf hash, verify the RFC 9162 inclusion proof, verify the ECDSA
P-256 signature over SHA-256 of the checkpoint encoding, compare the key fingerprint).

The audit path is computed from the leaf hashes in the verified checkpoints, not from the database.
An event not yet anchored by a checkpoint fails with a message saying to retry later.

After a failover, pass both buckets (--bucket repeated: the region's own and its replica of the
peer's) and both regions' keys (--signing-key repeated, or --public-key KEYID=FILE repeated); the
proof then carries the key of the checkpoint it is against. By default both are read (see
'caro audit verify --help').

The proof is JSON with either -o format: it is the file 'caro audit check-proof' reads.`,
		Example: `  caro audit prove <event-id> > proof.json
  caro audit prove <event-id> --region eu-central-1 --bucket caro-ledger-<account>-eu-central-1 --bucket caro-ledger-replica-<account>-eu-central-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := f.validateOutput(); err != nil {
				return err
			}
			if _, err := f.complete(ctx, cmd, streams.ErrOut, needDatabase|needCheckpoints); err != nil {
				return err
			}
			if err := f.validateLedger(); err != nil {
				return err
			}
			l, err := openAuditLedger(ctx, f, streams.ErrOut)
			if err != nil {
				return err
			}
			defer l.close()
			p := &ledger.Prover{Entries: l.store, Checkpoints: l.checkpoints.Checkpoints, PublicKey: l.publicKey, PublicKeys: l.publicKeys}
			proof, err := p.Prove(ctx, args[0])
			switch {
			case errors.Is(err, ledger.ErrNotAnchored):
				return fmt.Errorf("cannot prove event %s yet: %w; retry after the next checkpoint (at most the checkpoint interval or max age)", args[0], err)
			case errors.Is(err, ledger.ErrNoEntry):
				return fmt.Errorf("cannot prove event %s: %w; check the ID (caro audit prove takes the event ID)", args[0], err)
			case err != nil:
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("cannot prove event %s: %w", args[0], err)}
			}
			fmt.Fprintf(streams.ErrOut, "entry %d is in checkpoint %d (tree size %d); key fingerprint %s\n",
				proof.LeafIndex, proof.Checkpoint.Number, proof.TreeSize, proof.PublicKeySHA256)
			return writeJSON(streams.Out, proof)
		},
	}
}
