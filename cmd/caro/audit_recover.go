package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
)

type auditRecoverOptions struct {
	yes    bool
	maxAge time.Duration
}

func newAuditRecoverCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	o := auditRecoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover --mongodb-uri <uri> [-y]",
		Short: "Put back the audit entries a database restore rolled back, from the signed checkpoints",
		Long: `The ledger lives in the application's database, so a backup or snapshot restore rolls it back to
the backup's time, while the checkpoint bucket keeps every checkpoint cut since, and each checkpoint
carries the entries it anchors. Run this right after a restore, before the audit writer appends
again (caro backup restore and the failover's restore step do it before switching traffic).

The restored database is named with --mongodb-uri (its --database holds the ledger): recover writes
to it, so it is never taken from the configuration. It asks before writing (-y/--yes confirms;
without a terminal it refuses unless --yes).

It verifies every checkpoint in --bucket (signature, chain, Merkle root, Object Lock) and the
restored chain, exactly as 'caro audit verify' does, then inserts the missing checkpoint records and
appends every anchored entry the database lacks, each checked against its signed leaf hash and
chained to the stored head. During an outage of the primary region, pass --region <standby>: its
replica of the primary's checkpoint bucket is read by default, with the pinned keys (or pin the
key with --public-key). When the
checkpoints are in two buckets signed by two keys (a ledger that was already continued in the other
region once, then failed back), repeat --bucket (own and replica, read as one series) and pin each
key as --public-key KEYID=FILE (KEYID the key ARN the checkpoints name).

It writes nothing and exits 2 when the restored ledger diverges from the checkpoints (entries were
appended after the restore, or the ledger was altered), or when the missing entries are only in
checkpoints written before they carried entries. Running it again changes nothing.

A restore holds the ledger (the audit writer appends nothing and cuts no checkpoint) until this
command completes: it then removes the hold. When it refuses or a checkpoint does not verify the
hold stays; only if recovery is impossible, release it with 'caro audit release-hold'. Entries
appended after the last checkpoint cannot be recovered: at most --max-age (the checkpointer's
MaxAge, setting ledger-checkpoint-max-age) of audit records.

Buckets and keys not passed come from the configuration as for 'caro audit verify'.

Progress goes to stderr, the summary to stdout (-o json for the report).
Exit status: 0 recovered (or nothing to do), 2 refused or a checkpoint does not verify, 1 could not run.`,
		Example: `  caro audit recover --mongodb-uri "$MONGODB_URI" --yes
  caro audit recover --mongodb-uri "$STANDBY_MONGODB_URI" --region eu-central-1 --bucket caro-ledger-replica-<account>-eu-central-1 --public-key ledger.pem -y -o json
  caro audit recover --mongodb-uri "$MONGODB_URI" --bucket caro-ledger-<account>-eu-west-1 --bucket caro-ledger-replica-<account>-eu-west-1 \
    --public-key arn:aws:kms:eu-west-1:<account>:key/<a>=ledger-eu-west-1.pem --public-key arn:aws:kms:eu-central-1:<account>:key/<b>=ledger-eu-central-1.pem --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Validate, Complete, confirm.
			if !cmd.Flags().Changed("mongodb-uri") || f.mongoURI == "" {
				return errors.New("no restored database: pass --mongodb-uri <uri> of the restored database (named explicitly: recover writes to its ledger)")
			}
			if err := f.validateOutput(); err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg, err := f.complete(ctx, cmd, streams.ErrOut, needDatabase|needCheckpoints)
			if err != nil {
				return err
			}
			if err := durationSetting(ctx, cmd, cfg, streams.ErrOut, "max-age", config.KeyLedgerMaxAge, &o.maxAge); err != nil {
				return err
			}
			if err := f.validateLedger(); err != nil {
				return err
			}
			if o.maxAge <= 0 {
				return fmt.Errorf("invalid --max-age %s: give the checkpointer's MaxAge, like 5m", o.maxAge)
			}
			question := fmt.Sprintf("recover appends the missing audit entries and checkpoint records to the ledger of database %s on %s: go ahead?", f.database, redactURI(f.mongoURI))
			if err := confirm(streams, o.yes, question); err != nil {
				return err
			}
			// Execute.
			l, err := openAuditLedger(ctx, f, streams.ErrOut)
			if err != nil {
				return err
			}
			defer l.close()
			pub, ring, err := l.keys()
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "recovering the ledger in %s from checkpoints in %s (%s)...\n", f.database, l.checkpoints.Name, l.keyLabel())
			rep, err := ledger.Recover(ctx, ledger.RecoverOptions{Store: l.store, Checkpoints: l.checkpoints.Checkpoints, Locks: l.checkpoints.Locks, PublicKey: pub, PublicKeys: ring,
				RetentionYears: f.retentionYears, MaxAge: o.maxAge, Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) }})
			if err != nil {
				if errors.Is(err, ledger.ErrDiverged) || errors.Is(err, ledger.ErrNotRecoverable) {
					return &exitError{code: exitAuditFailed, err: fmt.Errorf("audit ledger not recovered: %w", err)}
				}
				return fmt.Errorf("audit ledger recovery failed: %w", err)
			}
			if err := printRecoveryReport(streams, f.output, rep); err != nil {
				return err
			}
			if rep.CheckpointProblem != "" {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("recovered what the verified checkpoints anchor, but a later checkpoint does not verify: %s; run 'caro audit verify'", rep.CheckpointProblem)}
			}
			fmt.Fprintln(streams.ErrOut, "done; 'caro audit verify' checks the whole ledger")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm writing to the restored database's ledger")
	fl.DurationVar(&o.maxAge, "max-age", 0, "the checkpointer's MaxAge, reported as the most audit time that cannot be recovered (default: setting ledger-checkpoint-max-age)")
	return cmd
}

func printRecoveryReport(streams IOStreams, output string, rep *ledger.RecoveryReport) error {
	if output == "json" {
		return writeJSON(streams.Out, rep)
	}
	fmt.Fprintf(streams.Out, "checkpoints verified:  %d (anchoring %d entries)\n", rep.CheckpointsVerified, rep.AnchoredTreeSize)
	if rep.LastCheckpoint != nil {
		fmt.Fprintf(streams.Out, "last checkpoint:       %d (entries up to %d, cut %s)\n", *rep.LastCheckpoint, *rep.LastAnchoredSeq, rep.LastCheckpointTime.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(streams.Out, "entries before:        %d\n", rep.StoredEntries)
	fmt.Fprintf(streams.Out, "entries recovered:     %d\n", rep.EntriesRecovered)
	fmt.Fprintf(streams.Out, "checkpoint records:    %d restored\n", rep.CheckpointRecordsRestored)
	if rep.UnanchoredEntries > 0 {
		fmt.Fprintf(streams.Out, "not yet anchored:      %d (kept; the next checkpoint anchors them)\n", rep.UnanchoredEntries)
	}
	fmt.Fprintf(streams.Out, "not recoverable:       %s\n", rep.Unrecoverable)
	if rep.CheckpointProblem != "" {
		fmt.Fprintf(streams.Out, "checkpoint problem:    %s\n", rep.CheckpointProblem)
	}
	if rep.HoldReleased {
		fmt.Fprintf(streams.Out, "ledger hold:           released (the audit writer appends again)\n")
	}
	if rep.HoldKept != "" {
		fmt.Fprintf(streams.Out, "ledger hold:           kept: %s\n", rep.HoldKept)
	}
	return nil
}
