package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
)

type backupRestoreOptions struct {
	target   string
	database string
	replace  bool
	yes      bool
	workers  int
	noPre    bool
	// skipErasures restores without re-applying the erasure register (explicit, loud).
	skipErasures bool
}

func newBackupRestoreCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore <backup-id> --target <mongodb-uri>",
		Short: "Restore a backup into a database, switching only after everything verified",
		Long: `Restore a backup. The manifest is authenticated first; then the whole backup is read once and
every chunk authenticated, every count and checksum compared with the manifest, before the target
is touched; the data is loaded into staging collections in the target database,
counts and SHA-256 checksums are compared with the manifest, indexes are recreated, and only
then are the staging collections renamed into place. Any failure leaves the target as it was.

Before the switch, every erasure in the erasure register is applied to the staging collections, so patients erased after the backup was taken stay erased: personal
fields, notes' text and subject keys are removed again. The register is read before the target is
touched; if it cannot be read the restore refuses. The register is the union of erasures/ in
--bucket and in every --erasure-bucket: a region's API records erasures in its own backup bucket,
the peer's are replicated into its replica bucket, and after a failover or failback each holds
erasures the other lacks (restoring an own backup from before a failover needs the replica's;
in the standby, the replica's backup needs the standby's own bucket). Any of them unreadable
refuses the restore. --skip-erasure-register restores without it
(erased patients come back until 'caro gdpr reapply' runs) and says so loudly.

A target with collections is refused unless --replace (with --yes): its collections are kept
aside until the switch completed. The audit ledger (ledger_entries) is restored with the data, so it
is rolled back to the backup's time: the restore holds it before the switch (the audit writer
refuses events and cuts no checkpoint), then recovers it from the checkpoints before publishing its
own events when the ledger configuration is set (CARO_LEDGER_BUCKET, CARO_REGION,
CARO_LEDGER_SIGNING_KEY_ARN or CARO_LEDGER_PUBLIC_KEY), which removes the hold. Otherwise run
'caro audit recover' right after (it puts back the entries the signed checkpoints anchor and
removes the hold).

Audit: the restore writes one backup:restore event (tenant caro:platform, resource type database,
resource ID the backup ID, interface cli, actor the AWS caller identity's ARN or os-user:<login>,
one request ID per run) into its record in _caro_restore_log, and each re-applied erasure one
subject:erase event into the erased patient's tombstone; the API's reconciler publishes them, or
right away when CARO_AUDIT_TOPIC_ARN is set. Progress goes to stderr; -o json prints a summary
on stdout.`,
		Example: `  caro backup restore 20261123T020000Z-1a2b3c4d --target "$STANDBY_MONGODB_URI" -o json
  caro backup restore 20261123T020000Z-1a2b3c4d --target mongodb://127.0.0.1:27017/ --replace --yes
  caro backup restore 20261123T020000Z-1a2b3c4d --bucket "$OWN_BACKUP_BUCKET" --erasure-bucket caro-backup-replica-<account>-eu-west-1 --target "$MONGODB_URI" --replace --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(false); err != nil {
				return err
			}
			if o.target == "" {
				return fmt.Errorf("no target: pass --target <mongodb-uri>")
			}
			if o.replace && !o.yes {
				return fmt.Errorf("--replace replaces every collection of the target database: add --yes to confirm")
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
			// The register is the union of --bucket's and every --erasure-bucket's.
			registers, registerNames, err := erasureStores(cmd.Context(), f)
			if err != nil {
				return err
			}
			if !o.skipErasures {
				warnOneRegisterBucket(streams.ErrOut, registerNames, "--erasure-bucket")
			}
			rep, err := backup.Restore(cmd.Context(), backup.RestoreOptions{
				BackupID: args[0], Store: store, KMS: k, KeyID: f.kmsKey, Target: client, Origin: commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI),
				Database: o.database, Replace: o.replace, Workers: o.workers, SkipPreverify: o.noPre, Progress: progressPrinter(streams.ErrOut),
				SkipErasureRegister: o.skipErasures, ErasureStores: registers[1:], ErasureStoreNames: registerNames,
			})
			if err != nil {
				return err
			}
			// The audit ledger lives in the restored database: it was rolled back with it, and the
			// restore held it. Recover it before the restore's own events are published, so the
			// audit writer appends them instead of refusing them.
			if rep.LedgerHeld {
				recoverRestoredLedger(cmd.Context(), streams.ErrOut, o.target, rep.Database)
			}
			deliverAuditEvents(cmd.Context(), streams.ErrOut, f.region, client.Database(rep.Database), rep.AuditEvents, rep.UnstoredAuditEvent)
			if rep.ErasureRegisterSkipped {
				fmt.Fprintf(streams.ErrOut, "WARNING: erasures were NOT re-applied: patients erased since %s are back with their personal data; run 'caro gdpr reapply --target <uri> --yes' now\n",
					rep.BackupTime.UTC().Format("2006-01-02T15:04:05Z"))
			} else if rep.Erasures != nil {
				fmt.Fprintf(streams.ErrOut, "erasures: %d registered erasures re-applied before the switch (%d patients, %d notes erased again)\n",
					rep.Erasures.Applied, rep.Erasures.Patients, rep.Erasures.Notes)
			}
			if f.output == "json" {
				return writeJSON(streams.Out, rep)
			}
			fmt.Fprintf(streams.Out, "restored %s into %s: %d documents in %d collections, %.0f documents/s\n",
				rep.BackupID, rep.Database, rep.Documents, len(rep.Collections), rep.DocsPerSecond)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.target, "target", "", "MongoDB URI of the target server")
	fl.StringVar(&o.database, "database", "", "target database (default: the backed-up database's name)")
	fl.BoolVar(&o.replace, "replace", false, "replace the contents of a non-empty target database")
	fl.BoolVar(&o.yes, "yes", false, "confirm --replace")
	fl.IntVar(&o.workers, "workers", backup.DefaultWorkers, "parallel insert workers")
	fl.BoolVar(&o.noPre, "no-preverify", false, "authenticate while loading into staging instead of in a read-only pass first (reads the backup once; a damaged backup still never reaches the target's collections)")
	fl.StringArrayVar(&f.erasureBuckets, "erasure-bucket", auditEnvList(envBackupReplicaBucket),
		"further bucket whose erasure register is read with --bucket's as one, repeatable: the region's replica of the peer's backup bucket, or in the standby its own backup bucket (CARO_BACKUP_REPLICA_BUCKET)")
	fl.BoolVar(&o.skipErasures, "skip-erasure-register", false, "DANGER: restore without re-applying the erasure register (only when it cannot be read and the restore cannot wait; erased patients come back until 'caro gdpr reapply' runs)")
	return cmd
}
