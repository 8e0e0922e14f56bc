package main

import (
	"os"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newGDPRCmd) }

// gdprSubcommands lists the gdpr subcommands; each file adds its own in an init.
var gdprSubcommands []func(IOStreams, *backupFlags) *cobra.Command

func newGDPRCmd(streams IOStreams) *cobra.Command {
	f := &backupFlags{}
	cmd := &cobra.Command{
		Use:   "gdpr",
		Short: "Data-subject rights operations (the erasure register)",
		Long: `Operations for data-subject rights that outlive the database.

Every erasure (DELETE /subjects/{id}) is recorded, before anything is erased, in the erasure
register: one object per erasure under erasures/<tenant>/<patient id>.json in the region's backup
bucket (docs/backup-format.md). Restores of logical backups re-apply it by themselves; after any
other rollback of the database (an Atlas snapshot restore, a point-in-time restore) run
'caro gdpr reapply'.`,
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.bucket, "bucket", os.Getenv("CARO_BACKUP_BUCKET"), "backup bucket holding the erasure register (CARO_BACKUP_BUCKET; in the standby: its replica bucket)")
	p.StringVar(&f.region, "region", firstEnv("CARO_REGION", "AWS_REGION"), "AWS region of the bucket (CARO_REGION)")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	for _, sub := range gdprSubcommands {
		cmd.AddCommand(sub(streams, f))
	}
	return cmd
}
