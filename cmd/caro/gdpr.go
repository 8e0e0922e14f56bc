package main

import (
	"github.com/spf13/cobra"
)

func init() { registerCommand(newGDPRCmd) }

// gdprSubcommands lists the gdpr subcommands; each file adds its own in an init.
var gdprSubcommands []func(IOStreams, *backupFlags) *cobra.Command

func newGDPRCmd(streams IOStreams) *cobra.Command {
	f := &backupFlags{}
	cmd := &cobra.Command{
		Use:     "gdpr",
		Short:   "Data-subject rights operations (the erasure register)",
		Example: `  caro gdpr reapply --mongodb-uri "$STANDBY_MONGODB_URI" --region eu-central-1 --yes`,
		Long: `Operations for data-subject rights that outlive the database.

Every erasure (DELETE /subjects/{id}) is recorded, before anything is erased, in the erasure
register: one object per erasure under erasures/<tenant>/<patient id>.json in the region's backup
bucket, replicated to the peer region's replica bucket (docs/backup-format.md). A region's
register is the union of its own backup bucket and its replica of the peer's: pass --bucket for
both. Restores of logical backups re-apply it by themselves; after any
other rollback of the database (an Atlas snapshot restore, a point-in-time restore) run
'caro gdpr reapply'.`,
	}
	p := cmd.PersistentFlags()
	p.StringArrayVar(&f.erasureBuckets, "bucket", nil,
		"bucket holding an erasure register, repeatable: the region's own backup bucket and its replica of the peer's, read as one (default: CARO_BACKUP_BUCKET and CARO_BACKUP_REPLICA_BUCKET)")
	p.StringVar(&f.region, "region", "", "AWS region of the bucket (default: CARO_REGION)")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	for _, sub := range gdprSubcommands {
		cmd.AddCommand(sub(streams, f))
	}
	return cmd
}
