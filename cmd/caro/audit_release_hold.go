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
	reason string
	yes    bool
}

func newAuditReleaseHoldCmd(streams IOStreams, f *auditFlags) *cobra.Command {
	o := auditReleaseHoldOptions{}
	cmd := &cobra.Command{
		Use:   "release-hold --mongodb-uri <uri> --reason <why> [-y]",
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
for the incident record). The database is named with --mongodb-uri (its --database holds the
ledger), never taken from the configuration. It asks before releasing (-y/--yes confirms; without
a terminal it refuses unless --yes).

Progress and the warning go to stderr, the released hold to stdout (-o json for it).`,
		Example: `  caro audit release-hold --mongodb-uri "$MONGODB_URI" --reason "INC-1234: checkpoints 0-3 predate entries in checkpoints; approved by security" --yes
  caro audit release-hold --mongodb-uri "$MONGODB_URI" --database caro --reason "INC-1234: no key to verify the checkpoints" -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Validate, Complete, confirm.
			if !cmd.Flags().Changed("mongodb-uri") || f.mongoURI == "" {
				return errors.New("no restored database: pass --mongodb-uri <uri> of the database whose ledger is held (named explicitly: release-hold writes to it)")
			}
			if strings.TrimSpace(o.reason) == "" {
				return errors.New("no reason: pass --reason with why the ledger cannot be recovered (kept for the incident record)")
			}
			if err := f.validateOutput(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if _, err := f.complete(ctx, cmd, streams.ErrOut, needDatabase); err != nil {
				return err
			}
			question := fmt.Sprintf("release-hold lets the audit writer append to the ledger of database %s on %s WITHOUT recovering it, which may fork it from the signed checkpoints: go ahead?",
				f.database, redactURI(f.mongoURI))
			if err := confirm(streams, o.yes, question); err != nil {
				return err
			}
			// Execute.
			client, closeClient, err := connectTarget(ctx, f.mongoURI)
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
	fl.StringVar(&o.reason, "reason", "", "why the ledger cannot be recovered (kept in the output for the incident record)")
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm releasing the hold without recovery")
	return cmd
}
