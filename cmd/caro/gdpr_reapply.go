package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
)

func init() { gdprSubcommands = append(gdprSubcommands, newGDPRReapplyCmd) }

type gdprReapplyOptions struct {
	target   string
	database string
	since    string
	yes      bool
}

// gdprReapplyReport is the -o json output of `caro gdpr reapply`.
type gdprReapplyReport struct {
	Database string `json:"database"`
	erasure.Summary
}

func newGDPRReapplyCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := gdprReapplyOptions{}
	cmd := &cobra.Command{
		Use:   "reapply --mongodb-uri <uri> --yes",
		Short: "Apply every registered erasure to a database again (after a snapshot restore)",
		Long: `Read the erasure register and erase each registered patient in the target database again:
personal fields removed (the patient becomes an erased tombstone), every note's text removed,
the subject key deleted. It is the code the API erases with and the code logical restores run
before their switch. Patients that are already erased, or that the database never had, are left
as they are, so running it twice changes nothing.

Audit: each patient erased gets one subject:erase event (interface cli, actor the AWS caller
identity's ARN, or os-user:<login> without AWS credentials; one request ID per run), written in
the patient's tombstone in the same update, as the API's erase does; the API's reconciler
publishes it, or right away when CARO_AUDIT_TOPIC_ARN is set. Already erased patients get no
new event, so a re-run adds none.

The register is read from every --bucket as one (the region's own backup bucket, where its API
records erasures, and its replica of the peer region's, where the peer's are replicated: after a
failover or failback each holds erasures the other lacks); a subject in both is applied once. If
any bucket cannot be read completely, nothing is written.

By default every registered erasure is applied; --since limits it to erasures recorded at or
after a time (RFC 3339), for example the snapshot time minus a safety margin. A register that
cannot be read completely stops before anything is written.

It changes data: --yes is required. Progress goes to stderr; -o json prints a summary on stdout.`,
		Example: `  caro gdpr reapply --mongodb-uri "$STANDBY_MONGODB_URI" --bucket "$OWN_BACKUP_BUCKET" --bucket caro-backup-replica-<account>-eu-central-1 --region eu-central-1 --yes
  caro gdpr reapply --mongodb-uri mongodb://127.0.0.1:27017/ --since 2026-11-20T00:00:00Z --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			since, err := o.validate(f)
			if err != nil {
				return err
			}
			if err := confirm(streams, o.yes, "gdpr reapply erases the registered patients in database "+o.database+": go ahead?"); err != nil {
				return err
			}
			register, _, err := erasureRegister(cmd.Context(), f, streams.ErrOut, "--bucket")
			if err != nil {
				return err
			}
			origin := commandOrigin(cmd.Context(), f.region, audit.InterfaceCLI)
			sum, err := reapplyErasures(cmd.Context(), register, o.target, o.database, since, origin, f.region, streams.ErrOut)
			if err != nil {
				return err
			}
			if f.output == "json" {
				return writeJSON(streams.Out, gdprReapplyReport{Database: o.database, Summary: sum})
			}
			fmt.Fprintf(streams.Out, "re-applied %d registered erasures to %s: %d patients and %d notes still held personal data and were erased; %d subject:erase audit events written\n",
				sum.Applied, o.database, sum.Patients, sum.Notes, sum.AuditEvents)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.target, "mongodb-uri", "", "connection string of the database server to apply the erasures to")
	fl.StringVar(&o.database, "database", backup.DefaultDatabase, "application database")
	fl.StringVar(&o.since, "since", "", "only erasures recorded at or after this time (RFC 3339; default: all)")
	fl.BoolVarP(&o.yes, "yes", "y", false, "confirm changing the target's data")
	return cmd
}

// validate checks the flags and returns the parsed --since.
func (o gdprReapplyOptions) validate(f *backupFlags) (time.Time, error) {
	if f.output != "text" && f.output != "json" {
		return time.Time{}, fmt.Errorf("invalid --output %q: use text or json", f.output)
	}
	s, err := loadSettings()
	if err != nil {
		return time.Time{}, err
	}
	if len(f.erasureBuckets) == 0 && f.bucket == "" {
		f.erasureBuckets = append([]string{s.BackupBucket}, s.BackupReplicaBuckets...)
	}
	if f.region == "" {
		f.region = s.Region
	}
	if len(f.registerBuckets()) == 0 || f.region == "" {
		return time.Time{}, errors.New("no erasure register: pass --bucket (own backup bucket and replica of the peer's, repeated) and --region (or set CARO_BACKUP_BUCKET, CARO_BACKUP_REPLICA_BUCKET and CARO_REGION)")
	}
	if o.target == "" {
		return time.Time{}, errors.New("no target database: pass --mongodb-uri <uri> of the server to apply the erasures to")
	}
	if o.database == "" {
		return time.Time{}, errors.New("--database must not be empty")
	}
	var since time.Time
	if o.since != "" {
		t, err := time.Parse(time.RFC3339, o.since)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid --since %q: give an RFC 3339 time such as 2026-11-20T00:00:00Z", o.since)
		}
		since = t
	}
	return since, nil
}

// reapplyErasures connects to the target and applies the register's erasures (since: zero = all)
// to its database, progress to w; every patient erased gets a subject:erase event of origin, which
// is published right away when CARO_AUDIT_TOPIC_ARN is set (region: the topic's). Used by `caro
// gdpr reapply`, `caro backup atlas-restore` and the failover's snapshot restore step.
func reapplyErasures(ctx context.Context, src erasure.Source, uri, database string, since time.Time, origin audit.Origin, region string, w io.Writer) (erasure.Summary, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(20 * time.Second))
	if err != nil {
		return erasure.Summary{}, fmt.Errorf("connect to %s: %w", redactURI(uri), err)
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	if err := client.Ping(ctx, nil); err != nil {
		return erasure.Summary{}, fmt.Errorf("reach %s: %w (check the URI and network path; nothing was written)", redactURI(uri), err)
	}
	fmt.Fprintf(w, "reading the erasure register\n")
	sum, err := erasure.Reapply(ctx, erasure.ReapplyOptions{Source: src, DB: client.Database(database), Since: since, Origin: origin,
		Progress: func(m string) { fmt.Fprintln(w, m) }})
	// Events written before a failure are stored too: deliver them either way.
	deliverAuditEvents(ctx, w, region, client.Database(database), sum.Events, nil)
	if err != nil {
		return sum, fmt.Errorf("re-applying erasures to %s (%d of %d applied): %w (applying is idempotent: fix the cause and run `caro gdpr reapply` again)",
			database, sum.Applied, sum.Registered, err)
	}
	return sum, nil
}
