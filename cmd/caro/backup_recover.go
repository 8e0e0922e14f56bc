package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/restore"
)

func init() { backupSubcommands = append(backupSubcommands, newBackupRecoverCmd) }

func newBackupRecoverCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	var target, database string
	var yes bool
	cmd := &cobra.Command{
		Use:   "recover --mongodb-uri <uri> --yes",
		Short: "Finish or roll back an interrupted restore of a database, and nothing else",
		Long: `Finish or roll back an interrupted restore (the first thing every restore does, on its own):

  - a restore stopped before or during its switch is rolled back: the target's collections back in
    place, its staging dropped, its ledger hold released, its maintenance switch turned off; a
    collection written while the switch was interrupted is kept aside and named, never dropped;
  - a restore stopped after its switch committed is finished: the erasure register applied again
    (when --bucket/--erasure-bucket name it), the ledger recovered (with the ledger configuration),
    the audit record and marker written, the maintenance switch turned off;
  - a maintenance switch a crashed restore left on, and staging of dead restores, are cleared.

A restore still running (its process alive, or on another host a heartbeat in the last minute) is
left alone and named. Nothing is done without --yes; -o json prints what was done.`,
		Example: `  caro backup recover --mongodb-uri "$MONGODB_URI" --yes
  caro backup recover --mongodb-uri "$MONGODB_URI" --bucket "$OWN_BACKUP_BUCKET" --erasure-bucket "$REPLICA_BUCKET" --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			if target == "" {
				return fmt.Errorf("no database: pass --mongodb-uri <uri> of the database server to recover")
			}
			if err := confirm(streams, yes, "recover rolls an interrupted restore of "+database+" back or finishes it"); err != nil {
				return err
			}
			s, err := f.completeFromSettings()
			if err != nil {
				return err
			}
			if len(f.erasureBuckets) == 0 {
				f.erasureBuckets = s.BackupReplicaBuckets
			}
			var reg erasure.Source
			if f.bucket != "" && f.region != "" {
				stores, names, err := erasureStores(cmd.Context(), f)
				if err != nil {
					return err
				}
				reg = erasure.BucketsRegister(names, stores...)
			}
			client, closeClient, err := connectTarget(cmd.Context(), target)
			if err != nil {
				return err
			}
			defer closeClient()
			rec, err := restore.Recover(cmd.Context(), client.Database(database), restore.Options{Erasures: reg,
				Ledger: cliLedgerRecovery(streams.ErrOut, target, s), Deliver: cliDeliver(streams.ErrOut, f.region),
				Origin: commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI), Progress: progressPrinter(streams.ErrOut)})
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(streams.Out, rec)
			}
			if rec.Action == "" {
				fmt.Fprintf(streams.Out, "nothing to recover in %s: no interrupted restore, no maintenance switch left on by one\n", database)
				return nil
			}
			if rec.Finished != nil {
				printRestoreWarnings(streams.ErrOut, rec.Finished)
			}
			fmt.Fprintln(streams.Out, rec.Detail)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&target, "mongodb-uri", "", "MongoDB connection string of the database server")
	fl.StringVar(&database, "database", backup.DefaultDatabase, "database to recover")
	fl.BoolVarP(&yes, "yes", "y", false, "confirm changing the database")
	fl.StringArrayVar(&f.erasureBuckets, "erasure-bucket", nil, "further erasure register bucket read with --bucket's (default: CARO_BACKUP_REPLICA_BUCKET)")
	return cmd
}

func init() { backupSubcommands = append(backupSubcommands, newBackupDiscardReplacedCmd) }

func newBackupDiscardReplacedCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	var target, database, run string
	var yes bool
	cmd := &cobra.Command{
		Use:   "discard-replaced --mongodb-uri <uri> [--run <id>] --yes",
		Short: "Drop the collections restores moved aside and kept (listed first)",
		Long: `Every restore keeps what its switch moved aside, as _caro_prev_<run>_<name>, so nothing a
restore replaced is ever dropped unseen. Once the restored data is confirmed, drop them: they hold
personal data the erasure register no longer reaches. The command lists those of --run (or of every
run) on stdout, then asks (or takes -y/--yes) and drops them. It refuses while a restore is in
progress or interrupted (run 'caro backup recover' first).`,
		Example: `  caro backup discard-replaced --mongodb-uri "$MONGODB_URI" --run 1a2b3c4d
  caro backup discard-replaced --mongodb-uri "$MONGODB_URI" --run 1a2b3c4d --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			if target == "" {
				return fmt.Errorf("no database: pass --mongodb-uri <uri> of the database server")
			}
			client, closeClient, err := connectTarget(cmd.Context(), target)
			if err != nil {
				return err
			}
			defer closeClient()
			db := client.Database(database)
			all, err := restore.ListKept(cmd.Context(), db)
			if err != nil {
				return err
			}
			var kept []restore.Kept
			for _, k := range all {
				if run == "" || k.Run == run {
					kept = append(kept, k)
				}
			}
			if len(kept) == 0 {
				if f.output == "json" {
					return writeJSON(streams.Out, []restore.Kept{})
				}
				fmt.Fprintf(streams.Out, "no collections kept by restores in %s\n", database)
				return nil
			}
			for _, k := range kept {
				fmt.Fprintf(streams.ErrOut, "kept\t%s\trun %s\t%d documents\t(was %s)\n", k.Name, k.Run, k.Documents, k.Collection)
			}
			if err := confirm(streams, yes, fmt.Sprintf("drop these %d kept collections (they cannot be restored afterwards)", len(kept))); err != nil {
				return err
			}
			dropped, err := restore.DiscardKept(cmd.Context(), db, run)
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(streams.Out, dropped)
			}
			for _, k := range dropped {
				fmt.Fprintf(streams.Out, "dropped\t%s\trun %s\t%d documents\n", k.Name, k.Run, k.Documents)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&target, "mongodb-uri", "", "MongoDB connection string of the database server")
	fl.StringVar(&database, "database", backup.DefaultDatabase, "database the restores kept collections in")
	fl.StringVar(&run, "run", "", "only the collections of this restore run (the report's run)")
	fl.BoolVarP(&yes, "yes", "y", false, "confirm dropping them")
	return cmd
}
