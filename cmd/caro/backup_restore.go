package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/maintenance"
	"github.com/carohealth/platform/internal/restore"
)

// defaultRestoreSettle is how long restores wait after turning the maintenance switch on
// (maintenance.Settle); the package's tests, whose targets no API writes to, shorten it.
var defaultRestoreSettle = maintenance.Settle

type backupRestoreOptions struct {
	target   string
	database string
	replace  bool
	yes      bool
	workers  int
	noPre    bool
	// skipErasures restores without re-applying the erasure register (explicit, loud).
	skipErasures bool
	// settle shortens the wait for the maintenance switch (benchmarks against a target no API
	// writes to).
	settle time.Duration
}

func newBackupRestoreCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore <backup-id> --mongodb-uri <uri>",
		Short: "Restore a backup into a database by the post-restore protocol, switching only after everything verified",
		Long: `Restore a backup by the post-restore protocol (internal/restore, docs/backup-format.md):

 1. An interrupted earlier restore of the target is finished (its switch had committed) or rolled
    back (it had not) first, and the output says which ('caro backup recover' does only this).
 2. The manifest is authenticated under one of the accepted KMS keys only (--kms-key, repeatable:
    the region's backup key and its replica of the peer's); a backup under any other key is
    refused, naming it. The erasure register is read and the whole backup authenticated (counts
    and checksums) before the target is written.
 3. The maintenance switch goes on (the API answers writes with 503 and Retry-After, reads keep
    working) and the backup is loaded into staging collections; the restore waits until every
    API instance has seen the switch, then lists the target.
 4. The audit ledger is held, the erasure register re-applied to the staged data (patients erased
    after the backup stay erased), the target listed again: a write despite the switch stops the
    restore before it switches, naming what changed.
 5. The switch: the target's collections are moved aside and KEPT (_caro_prev_<run>_<name>, listed
    in the output, until 'caro backup discard-replaced' removes them), the staged ones renamed in.
 6. The ledger is recovered from its checkpoints when the ledger configuration is set
    (CARO_LEDGER_BUCKET, CARO_REGION, CARO_LEDGER_SIGNING_KEY_ARN or CARO_LEDGER_PUBLIC_KEY),
    otherwise the output says to run 'caro audit recover'; the restore's audit events are recorded
    and published; the restore marker written; the maintenance switch turned off.

A failure before the switch leaves the target as it was. The register is the union of erasures/ in
--bucket and in every --erasure-bucket (a region's own backup bucket and its replica of the
peer's); any of them unreadable refuses the restore. --skip-erasure-register restores without it
(erased patients come back until 'caro gdpr reapply' runs) and says so loudly.

A target with collections is refused unless --replace with --yes. Audit: one backup:restore event
(tenant caro:platform, resource the backup ID, interface cli, actor the AWS caller identity's ARN
or os-user:<login>) and one subject:erase per re-applied erasure; the API's reconciler publishes
them, or right away when CARO_AUDIT_TOPIC_ARN is set. Progress goes to stderr; -o json prints the
report on stdout.`,
		Example: `  caro backup restore 20261123T020000Z-1a2b3c4d --mongodb-uri "$STANDBY_MONGODB_URI" --kms-key "$BACKUP_KEY_ARN" --kms-key "$PEER_REPLICA_KEY_ARN" -o json
  caro backup restore 20261123T020000Z-1a2b3c4d --mongodb-uri mongodb://127.0.0.1:27017/ --replace --yes
  caro backup restore 20261123T020000Z-1a2b3c4d --bucket "$OWN_BACKUP_BUCKET" --erasure-bucket caro-backup-replica-<account>-eu-west-1 --mongodb-uri "$MONGODB_URI" --replace --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(true); err != nil {
				return err
			}
			if o.target == "" {
				return fmt.Errorf("no target database: pass --mongodb-uri <uri> of the server to restore into (named explicitly: a restore replaces data)")
			}
			if o.replace {
				if err := confirm(streams, o.yes, fmt.Sprintf("--replace replaces every collection of database %s (they are kept aside, not dropped): go ahead?", o.database)); err != nil {
					return err
				}
			}
			s, err := loadSettings()
			if err != nil {
				return err
			}
			if len(f.erasureBuckets) == 0 {
				f.erasureBuckets = s.BackupReplicaBuckets
			}
			store, k, err := backupClients(cmd.Context(), f)
			if err != nil {
				return err
			}
			client, closeClient, err := connectTarget(cmd.Context(), o.target)
			if err != nil {
				return err
			}
			defer closeClient()
			registers, registerNames, err := erasureStores(cmd.Context(), f)
			if err != nil {
				return err
			}
			if !o.skipErasures {
				warnOneRegisterBucket(streams.ErrOut, registerNames, "--erasure-bucket")
			}
			opts := restore.Options{Target: client, Database: o.database, Replace: o.replace, Erasures: erasure.BucketsRegister(registerNames, registers...),
				SkipErasureRegister: o.skipErasures, Ledger: cliLedgerRecovery(streams.ErrOut, o.target, s), Deliver: cliDeliver(streams.ErrOut, f.region),
				Origin: commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI), Settle: o.settle, RetentionYears: s.RetentionYears}
			var progressDone func()
			opts.Progress, progressDone = backupProgress(streams, f.output)
			rep, err := restore.Backup(cmd.Context(), opts, restore.BackupSource{
				ReadOptions: backup.ReadOptions{BackupID: args[0], Store: store, KMS: k, AllowedKeys: f.kmsKeys}, Workers: o.workers, SkipPreverify: o.noPre})
			progressDone()
			if err != nil {
				return err
			}
			printRestoreWarnings(streams.ErrOut, rep)
			if f.output == "json" {
				return writeJSON(streams.Out, rep)
			}
			fmt.Fprintln(streams.Out, restore.Summary(rep))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.target, "mongodb-uri", "", "connection string of the server to restore into (required, never taken from the environment)")
	fl.StringVar(&o.database, "database", backup.DefaultDatabase, "target database")
	fl.BoolVar(&o.replace, "replace", false, "replace the contents of a non-empty target database (they are kept aside)")
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm --replace")
	fl.IntVar(&o.workers, "workers", backup.DefaultWorkers, "parallel insert workers")
	fl.BoolVar(&o.noPre, "no-preverify", false, "authenticate while loading into staging instead of in a read-only pass first (reads the backup once; a damaged backup still never reaches the target's collections)")
	fl.StringArrayVar(&f.erasureBuckets, "erasure-bucket", nil,
		"further bucket whose erasure register is read with --bucket's as one, repeatable: the region's replica of the peer's backup bucket, or in the standby its own backup bucket (default: CARO_BACKUP_REPLICA_BUCKET)")
	fl.BoolVar(&o.skipErasures, "skip-erasure-register", false, "DANGER: restore without re-applying the erasure register (only when it cannot be read and the restore cannot wait; erased patients come back until 'caro gdpr reapply' runs)")
	fl.DurationVar(&o.settle, "maintenance-settle", defaultRestoreSettle, "how long the restore waits after turning the maintenance switch on before it relies on no more writes (only shorter for a target no API writes to)")
	_ = fl.MarkHidden("maintenance-settle")
	return cmd
}

// cliDeliver publishes a restore's audit events inline when CARO_AUDIT_TOPIC_ARN is set
// (deliverAuditEvents), saying on w what happened.
func cliDeliver(w io.Writer, region string) restore.Deliver {
	return func(ctx context.Context, db *mongo.Database, events []audit.Written, unstored *audit.Event) {
		deliverAuditEvents(ctx, w, region, db, events, unstored)
	}
}

// printRestoreWarnings says on w, after a restore, what the operator must still do or know.
func printRestoreWarnings(w io.Writer, rep *restore.Report) {
	if rep.Recovered != nil && rep.Recovered.Action != "" {
		fmt.Fprintf(w, "first: %s\n", rep.Recovered.Detail)
	}
	if rep.ErasureRegisterSkipped {
		fmt.Fprintf(w, "WARNING: erasures were NOT re-applied: patients erased since %s are back with their personal data; run 'caro gdpr reapply --mongodb-uri <uri> --yes' now\n",
			rep.BackupTime.UTC().Format(time.RFC3339))
	} else if rep.Erasures != nil {
		fmt.Fprintf(w, "erasures: %d registered erasures re-applied (%d patients, %d notes erased again)\n", rep.Erasures.Applied, rep.Erasures.Patients, rep.Erasures.Notes)
	}
	for _, r := range rep.Replaced {
		if r.KeptAs != "" {
			fmt.Fprintf(w, "kept: %s (%d documents) as %s; remove with 'caro backup discard-replaced --mongodb-uri <uri> --run %s --yes' once the restore is confirmed (it holds personal data)\n",
				r.Collection, r.Documents, r.KeptAs, rep.Run)
		} else {
			fmt.Fprintf(w, "replaced (not kept, the snapshot replaced the cluster): %s (%d documents)\n", r.Collection, r.Documents)
		}
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", wn)
	}
}
