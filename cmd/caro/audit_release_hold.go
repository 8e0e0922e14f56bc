package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/ledger"
)

type auditReleaseHoldOptions struct {
	target string
	reason string
	yes    bool
}

func newAuditReleaseHoldCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	o := auditReleaseHoldOptions{}
	cmd := &cobra.Command{
		Use:   "release-hold --target <mongodb-uri> --reason <why> --yes",
		Short: "Release the audit ledger hold a restore placed, WITHOUT recovering the ledger",
		Long: `A database restore places the audit ledger hold (the document in _caro_ledger_hold) before it
switches the collections: while it exists the audit writer appends nothing (events are refused,
retried and then kept in the dead-letter queue) and cuts no checkpoint, so 'caro audit recover'
can still put back the entries the signed checkpoints anchor beyond the backup. A successful
'caro audit recover' removes the hold itself: use that.

Only when the recovery is impossible (checkpoints written before they carried their entries, no
key to verify them, a ledger that diverged) release the hold with this command, so audit events
are written again. It removes the hold and writes nothing else. Entries appended after this point
may fork the ledger from the anchored checkpoints ('caro audit verify' then reports the fork and
'caro audit recover' can no longer run): record why with --reason (printed with the released hold
for the incident record).

Progress and the warning go to stderr, the released hold to stdout (-o json for it).`,
		Example: `  caro audit release-hold --target "$MONGODB_URI" --reason "INC-1234: checkpoints 0-3 predate entries in checkpoints; approved by security" --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Validate.
			if o.target == "" {
				return errors.New("no target: pass --target <mongodb-uri> of the restored database")
			}
			if strings.TrimSpace(o.reason) == "" {
				return errors.New("no reason: pass --reason with why the ledger cannot be recovered (kept for the incident record)")
			}
			if !o.yes {
				return errors.New("release-hold lets the audit writer append to a ledger that was not recovered, which may fork it from the signed checkpoints: add --yes to confirm")
			}
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			// Execute.
			ctx := cmd.Context()
			client, closeClient, err := connectTarget(ctx, o.target)
			if err != nil {
				return err
			}
			defer closeClient()
			db := client.Database(f.database)
			hold, err := ledger.ReadHold(ctx, db)
			if err != nil {
				return fmt.Errorf("reading the audit ledger hold of %s: %w", f.database, err)
			}
			if hold == nil {
				fmt.Fprintf(streams.ErrOut, "the audit ledger of %s is not held: nothing to release\n", f.database)
				return nil
			}
			if _, err := ledger.ReleaseHold(ctx, db); err != nil {
				return err
			}
			fmt.Fprintf(streams.ErrOut, "WARNING: the audit ledger hold of %s is released WITHOUT recovery (reason: %s): the audit writer appends again, "+
				"and entries appended from now on may fork the ledger from the signed checkpoints; 'caro audit verify' shows where\n", f.database, o.reason)
			out := struct {
				Database   string       `json:"database"`
				Released   *ledger.Hold `json:"released"`
				Reason     string       `json:"reason"`
				ReleasedAt time.Time    `json:"releasedAt"`
			}{f.database, hold, o.reason, time.Now().UTC()}
			if f.output == "json" {
				return writeJSON(streams.Out, out)
			}
			fmt.Fprintf(streams.Out, "released the audit ledger hold of %s (placed %s by the restore of %s: %s); reason: %s\n",
				f.database, hold.Time.UTC().Format(time.RFC3339), hold.BackupID, hold.Reason, o.reason)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.target, "target", "", "MongoDB URI of the restored database (its --database holds the ledger)")
	fl.StringVar(&o.reason, "reason", "", "why the ledger cannot be recovered (kept in the output for the incident record)")
	fl.BoolVar(&o.yes, "yes", false, "confirm releasing the hold without recovery")
	return cmd
}
