package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
)

func newAuditVerifyCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	var since, tenant string
	var full bool
	// Zero: the settings decide (complete); flag defaults are constants.
	var maxAge, schedule time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the ledger's entries and checkpoints (incrementally from the last verification record, or --full); exit 0 only when all holds",
		Long: `By default the verification is incremental: it starts from the newest verification record in the
bucket (written, signed, by the audit writer's weekly verification: the checkpoint it proved, its
tree head, and an RFC 9162 consistency proof from the one before), checks that record's signature
and checkpoint, proves every newer checkpoint from it, and checks only the entries added since.
Without a record it is a full pass. --full checks every checkpoint and every entry from entry 0,
reading the entries once and hashing them on every core.

Checks every checkpoint in the bucket (signature with the ledger public key, link to the previous
checkpoint, Merkle root and compact range over its leaf hashes, Object Lock mode COMPLIANCE with a
retention of at least --retention-years) and every entry from the start point (sequence without
gaps, content hash, link to the previous entry, and the hash the checkpoint anchored for it).
Prints the number of entries verified and the first bad entry with the reason.

Also a finding: an entry no checkpoint anchors although its event time is longer ago than
--max-age (the checkpointer's MaxAge) plus --checkpoint-schedule (how often the writer runs it
without events), and a checkpoint the database recorded that long ago which the bucket lacks (the
newest checkpoint objects removed, or a lagging replica). Entries inside that window are reported as
not yet anchored: until a checkpoint anchors them they could be deleted or rewritten undetectably.

--since SEQ|TIME starts entry verification at the last valid checkpoint at or before that entry
number or RFC 3339 time (checkpoints are always all checked). --tenant T also counts T's entries;
the chain is global, so every entry from the start point is still verified.

After a failover the checkpoints are in two buckets, signed by two keys: the earlier ones (the old
primary's) in this region's replica of its bucket, the later ones in this region's own. Repeat
--bucket for both (they are read as one series ordered by number; a number in both must be the same
signed checkpoint, every copy's Object Lock is checked, a missing number is a problem) and pin both
keys: --signing-key ARN repeated, or --public-key KEYID=FILE repeated (KEYID the key ARN the
checkpoints name). Each checkpoint is then checked with the key it names; any other key is refused.
Without --bucket both are read by default (settings ledger-bucket and ledger-replica-bucket; a
replica found by its conventional name only that cannot be read is skipped with a warning).
Without --public-key or --signing-key the keys are the pinned ones (setting ledger-public-keys,
regions/environment.json) and the region's signing key (setting ledger-signing-key) unless pinned.

Exit status: 0 all holds, 2 something does not verify, 1 the check could not run.`,
		Example: `  caro audit verify                      # incremental, from the last verification record
  caro audit verify --full -o json        # every checkpoint and entry
  caro audit verify --region eu-central-1 --bucket caro-ledger-<account>-eu-central-1 --public-key ledger.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Validate what needs no configuration, then Complete.
			if err := f.validateOutput(); err != nil {
				return err
			}
			opt := ledger.VerifyOptions{Tenant: tenant, Incremental: !full && since == ""}
			if since != "" {
				if n, err := strconv.ParseUint(since, 10, 64); err == nil {
					opt.SinceSeq = &n
				} else if t, err := time.Parse(time.RFC3339, since); err == nil {
					opt.SinceTime = t
				} else {
					return fmt.Errorf("invalid --since %q: give an entry number or an RFC 3339 time like 2026-11-01T00:00:00Z", since)
				}
			}
			ctx := cmd.Context()
			cfg, err := f.complete(ctx, cmd, streams.ErrOut, needDatabase|needCheckpoints)
			if err != nil {
				return err
			}
			if err := durationSetting(ctx, cmd, cfg, streams.ErrOut, "max-age", config.KeyLedgerMaxAge, &maxAge); err != nil {
				return err
			}
			if err := durationSetting(ctx, cmd, cfg, streams.ErrOut, "checkpoint-schedule", config.KeyLedgerCheckpointSchedule, &schedule); err != nil {
				return err
			}
			if err := f.validateLedger(); err != nil {
				return err
			}
			if maxAge <= 0 || schedule <= 0 {
				return fmt.Errorf("invalid --max-age %s or --checkpoint-schedule %s: give the writer's settings, like 5m", maxAge, schedule)
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
			fmt.Fprintf(streams.ErrOut, "verifying the ledger in %s against checkpoints in %s (%s)...\n", f.database, l.checkpoints.Name, l.keyLabel())
			v := &ledger.Verifier{Entries: l.store, Checkpoints: l.checkpoints.Checkpoints, Locks: l.checkpoints.Locks, PublicKey: pub, PublicKeys: ring, RetentionYears: f.retentionYears,
				MaxAge: maxAge, CheckpointSchedule: schedule}
			rep, err := v.Verify(ctx, opt)
			if err != nil {
				return fmt.Errorf("audit ledger could not be verified: %w", err)
			}
			if err := printVerifyReport(streams, f.output, rep); err != nil {
				return err
			}
			if !rep.OK {
				return &exitError{code: exitAuditFailed, err: fmt.Errorf("audit ledger does not verify: %s", rep.FirstBad)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "start at this entry number or RFC 3339 time (from the last checkpoint before it)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "also count this tenant's entries")
	cmd.Flags().BoolVar(&full, "full", false, "check every checkpoint and entry from entry 0, not only what was added since the last verification record")
	cmd.Flags().DurationVar(&maxAge, "max-age", maxAge, "the checkpointer's MaxAge (default: setting ledger-checkpoint-max-age)")
	cmd.Flags().DurationVar(&schedule, "checkpoint-schedule", schedule, "how often the writer cuts due checkpoints without events (default: setting ledger-checkpoint-schedule)")
	return cmd
}

func printVerifyReport(streams IOStreams, output string, rep *ledger.Report) error {
	if output == "json" {
		return writeJSON(streams.Out, rep)
	}
	if r := rep.Retired; r != nil {
		fmt.Fprintf(streams.Out, "retired segments:     up to %d (checkpoints up to %d, entries before %d): retention ended %s; verified from that segment's seal\n",
			r.Segment, r.Checkpoint, r.TreeSize, r.RetentionEnded.UTC().Format(time.RFC3339))
	}
	switch f := rep.IncrementalFrom; {
	case f != nil:
		fmt.Fprintf(streams.Out, "incremental:          from checkpoint %d (tree size %d), proven by the verification record of %s (key %s)\n",
			f.Checkpoint, f.TreeSize, f.Time.UTC().Format(time.RFC3339), f.KeyID)
	case rep.Retired != nil:
		fmt.Fprintln(streams.Out, "full pass:            every checkpoint and entry after the retired segments")
	default:
		fmt.Fprintln(streams.Out, "full pass:            every checkpoint and entry from entry 0")
	}
	fmt.Fprintf(streams.Out, "entries verified:     %d (from entry %d)\n", rep.EntriesVerified, rep.FromSeq)
	if rep.Tenant != "" {
		fmt.Fprintf(streams.Out, "  of tenant %s:  %d\n", rep.Tenant, rep.TenantEntriesVerified)
	}
	fmt.Fprintf(streams.Out, "checkpoints verified: %d (anchoring %d entries)\n", rep.CheckpointsVerified, rep.AnchoredTreeSize)
	if rep.CheckpointRecordsChecked > 0 {
		fmt.Fprintf(streams.Out, "checkpoint records:   %d in the database compared with the bucket", rep.CheckpointRecordsChecked)
		if rep.PendingCheckpoints > 0 {
			fmt.Fprintf(streams.Out, " (%d recorded, not yet published)", rep.PendingCheckpoints)
		}
		fmt.Fprintln(streams.Out)
	}
	if rep.UnanchoredEntries > 0 && rep.OldestUnanchored != nil {
		fmt.Fprintf(streams.Out, "not yet anchored:     %d, oldest event %s (chain-checked only: until a checkpoint anchors them, within %s, they could be deleted or rewritten undetectably)\n",
			rep.UnanchoredEntries, rep.OldestUnanchored.UTC().Format(time.RFC3339), rep.UnanchoredWindow)
	}
	if p := rep.Proven; p != nil && p.FromTreeSize > 0 {
		fmt.Fprintf(streams.Out, "consistency proof:    tree size %d -> %d holds (%d hashes, RFC 9162)\n", p.FromTreeSize, p.TreeSize, len(p.ConsistencyProof))
	}
	if rep.OK {
		fmt.Fprintln(streams.Out, "result:               OK")
		return nil
	}
	fmt.Fprintf(streams.Out, "result:               FAILED\nfirst bad entry:      %d\n", rep.FirstBad.Seq)
	if rep.FirstBad.EventID != "" {
		fmt.Fprintf(streams.Out, "event:                %s\n", rep.FirstBad.EventID)
	}
	if rep.FirstBad.Checkpoint != nil {
		fmt.Fprintf(streams.Out, "checkpoint:           %d\n", *rep.FirstBad.Checkpoint)
	}
	fmt.Fprintf(streams.Out, "reason:               %s\n", rep.FirstBad.Reason)
	return nil
}
