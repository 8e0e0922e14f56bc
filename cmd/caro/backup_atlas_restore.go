package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
)

type backupAtlasRestoreOptions struct {
	sourceProject, sourceCluster string
	targetProject, targetCluster string
	targetRegion                 string
	unavailable                  []string
	credentialsFile              string
	timeout, pollInterval        time.Duration
	yes                          bool
	// targetURI is the standby cluster's connection string, for re-applying the erasure register
	// after the restore; skipErasures explicitly leaves that to the operator.
	targetURI, database string
	skipErasures        bool
}

// atlasRestoreOutput is the -o json output: the Atlas job and the erasures re-applied after it.
type atlasRestoreOutput struct {
	atlas.RestoreResult
	Erasures               *erasure.Summary `json:"erasures,omitempty"`
	ErasureRegisterSkipped bool             `json:"erasureRegisterSkipped,omitempty"`
}

func init() { backupSubcommands = append(backupSubcommands, newBackupAtlasRestoreCmd) }

func newBackupAtlasRestoreCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupAtlasRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "atlas-restore",
		Short: "Restore the newest Atlas snapshot with a copy in the standby region into the standby cluster",
		Long: `Restore an Atlas cloud-backup snapshot into the standby cluster: picks the newest completed
snapshot of the source cluster that has a copy in --target-region, checks first that encryption at
rest allows the restore (customer-managed keys: both projects' keys in the same, reachable
region) and otherwise refuses and points to the logical backup, starts an automated restore job
and polls it with backoff until it finishes, fails, is cancelled or expires.

A snapshot brings back every patient erased after it was taken, so once the job finished the
erasure register (erasures/ in --bucket and every --erasure-bucket, read as one: the standby's own
backup bucket and its replica of the primary's; --region) is applied to the restored
database through --target-uri, as 'caro gdpr reapply' does. The register is read before the job
starts: if it cannot be read, nothing is started. --skip-erasure-register instead of --target-uri
leaves it to the operator (loud warning; run 'caro gdpr reapply' right after).

Audit ledger: the snapshot rolls it back to the snapshot's time, so with --target-uri the restored
database's ledger is held right after the job (the audit writer refuses events and cuts no
checkpoint) and then recovered from the checkpoints when the ledger configuration is set
(CARO_LEDGER_BUCKET, CARO_REGION, CARO_LEDGER_SIGNING_KEY_ARN or CARO_LEDGER_PUBLIC_KEY), which
removes the hold; otherwise run 'caro audit recover' right after.

Audit: the restore's backup:restore event (resource: the snapshot ID) goes into the restored
database's _caro_restore_log through --target-uri, and each re-applied erasure's subject:erase
event into the patient's tombstone; the API's reconciler publishes them, or right away when
CARO_AUDIT_TOPIC_ARN is set (without --target-uri the restore's event can only be published so).

The target cluster's data is replaced: --yes is required. Credentials: a service account
(MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET) or an API key
(MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY), or --credentials-file with the
secret's JSON; they are never printed.`,
		Example: `  caro backup atlas-restore --source-project 5f...01 --source-cluster caro-prod \
      --target-project 5f...02 --target-cluster caro-standby --target-region eu-central-1 \
      --unavailable-region eu-west-1 --target-uri "$STANDBY_MONGODB_URI" --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.output != "text" && f.output != "json" {
				return fmt.Errorf("invalid --output %q: use text or json", f.output)
			}
			if !o.yes {
				return errors.New("atlas-restore replaces the data of the target cluster: add --yes to confirm")
			}
			if o.targetURI == "" && !o.skipErasures {
				return errors.New("a snapshot restore brings back patients erased since the snapshot: pass --target-uri <standby mongodb uri> to re-apply the erasure register after the restore, or --skip-erasure-register to run 'caro gdpr reapply' yourself")
			}
			var register erasure.Source
			if o.targetURI != "" {
				if len(f.registerBuckets()) == 0 || f.region == "" {
					return errors.New("no erasure register: pass --bucket (and --erasure-bucket) and --region (or set CARO_BACKUP_BUCKET, CARO_BACKUP_REPLICA_BUCKET and CARO_REGION) of the backup buckets")
				}
				var err error
				if register, _, err = erasureRegister(cmd.Context(), f, streams.ErrOut, "--erasure-bucket"); err != nil {
					return err
				}
				// Read it before the job starts: a restore whose erasures cannot be re-applied does not start.
				list, err := register.List(cmd.Context(), time.Time{})
				if err != nil {
					return fmt.Errorf("the erasure register cannot be read, so no restore was started: %w (check s3:ListBucket/s3:GetObject on erasures/ of the backup bucket and retry)", err)
				}
				fmt.Fprintf(streams.ErrOut, "erasure register read: %d erasures to re-apply after the restore\n", len(list))
			}
			creds, err := atlasCredentials(o.credentialsFile)
			if err != nil {
				return err
			}
			client, err := atlas.NewClient(cmd.Context(), creds, os.Getenv(atlas.EnvBaseURL), nil)
			if err != nil {
				return err
			}
			res, err := atlas.NewRestorer(client).Restore(cmd.Context(), atlas.SnapshotRestoreOptions{
				SourceProjectID: o.sourceProject, SourceCluster: o.sourceCluster,
				TargetProjectID: o.targetProject, TargetCluster: o.targetCluster, TargetRegion: o.targetRegion,
				UnavailableRegions: o.unavailable, Timeout: o.timeout, PollInterval: o.pollInterval,
				Progress: func(s string) { fmt.Fprintln(streams.ErrOut, s) },
			})
			if err != nil {
				return err
			}
			out := atlasRestoreOutput{RestoreResult: res}
			// First of all: hold the restored ledger before anything appends to it.
			if o.targetURI != "" {
				held, err := holdSnapshotLedger(cmd.Context(), o.targetURI, o.database, res, streams.ErrOut)
				if err != nil {
					return fmt.Errorf("snapshot %s was restored, but %w: run 'caro audit recover --target <uri> --yes' before anything else", res.SnapshotID, err)
				}
				// Then recover it, so the restore's own events below are appended, not refused.
				if held {
					recoverRestoredLedger(cmd.Context(), streams.ErrOut, o.targetURI, o.database)
				}
			} else {
				fmt.Fprintf(streams.ErrOut, "WARNING: without --target-uri the restored audit ledger is not held: run 'caro audit recover --target <uri> --yes' right away, before the audit writer appends to it\n")
			}
			// One origin (one request ID) for the restore's event and the erasures' events.
			origin := commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI)
			auditSnapshotRestore(cmd.Context(), streams.ErrOut, o.targetURI, o.database, f.region, res, origin)
			if register != nil {
				sum, err := reapplyErasures(cmd.Context(), register, o.targetURI, o.database, time.Time{}, origin, f.region, streams.ErrOut)
				if err != nil {
					return fmt.Errorf("snapshot %s was restored, but %w", res.SnapshotID, err)
				}
				out.Erasures = &sum
			} else {
				out.ErasureRegisterSkipped = true
				fmt.Fprintf(streams.ErrOut, "WARNING: erasures were NOT re-applied: patients erased since %s are back with their personal data; run 'caro gdpr reapply --target <uri> --yes' now\n",
					res.SnapshotTime.UTC().Format(time.RFC3339))
			}
			if f.output == "json" {
				return writeJSON(streams.Out, out)
			}
			fmt.Fprintf(streams.Out, "restored snapshot %s (%s) into %s/%s: job %s finished %s\n", res.SnapshotID,
				res.SnapshotTime.UTC().Format(time.RFC3339), o.targetProject, o.targetCluster, res.RestoreJobID, res.FinishedAt.UTC().Format(time.RFC3339))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.sourceProject, "source-project", "", "Atlas project ID of the primary cluster")
	fl.StringVar(&o.sourceCluster, "source-cluster", "", "primary cluster name")
	fl.StringVar(&o.targetProject, "target-project", "", "Atlas project ID of the standby cluster")
	fl.StringVar(&o.targetCluster, "target-cluster", "", "standby cluster name")
	fl.StringVar(&o.targetRegion, "target-region", "", "standby region (eu-central-1 or EU_CENTRAL_1)")
	fl.StringSliceVar(&o.unavailable, "unavailable-region", nil, "AWS region known to be down (repeatable)")
	fl.StringVar(&o.credentialsFile, "credentials-file", "", "file with the Atlas credentials secret JSON (default: environment)")
	fl.DurationVar(&o.timeout, "timeout", 2*time.Hour, "give up waiting after this long")
	fl.DurationVar(&o.pollInterval, "poll-interval", 10*time.Second, "first poll interval (doubles up to 2m)")
	fl.BoolVar(&o.yes, "yes", false, "confirm replacing the target cluster's data")
	fl.StringVar(&o.targetURI, "target-uri", "", "MongoDB URI of the standby cluster: the erasure register is re-applied there after the restore")
	fl.StringVar(&o.database, "database", backup.DefaultDatabase, "application database (with --target-uri)")
	fl.StringArrayVar(&f.erasureBuckets, "erasure-bucket", auditEnvList(envBackupReplicaBucket),
		"further bucket whose erasure register is read with --bucket's as one, repeatable (the region's own backup bucket and its replica of the peer's; CARO_BACKUP_REPLICA_BUCKET)")
	fl.BoolVar(&o.skipErasures, "skip-erasure-register", false, "DANGER: do not re-apply the erasure register after the restore (run 'caro gdpr reapply' yourself)")
	return cmd
}

func atlasCredentials(file string) (atlas.Credentials, error) {
	if file == "" {
		return atlas.CredentialsFromEnv(os.Getenv)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return atlas.Credentials{}, fmt.Errorf("reading --credentials-file: %w", err)
	}
	return atlas.CredentialsFromSecret(b)
}
