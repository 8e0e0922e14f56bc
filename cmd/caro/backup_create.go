package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/backup"
)

// defaultBackupKey is the alias constructs/backup gives the multi-Region backup key.
const defaultBackupKey = "alias/caro/backup"

type backupCreateOptions struct {
	source   string
	database string
}

func newBackupCreateCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	o := backupCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Back up every collection of the database into a new encrypted backup",
		Long: `Back up every collection of the database into a new encrypted backup. The data key comes from
--kms-key (default alias/caro/backup, the multi-Region key constructs/backup declares).`,
		Example: `  caro backup create --mongodb-uri "$CARO_MONGODB_URI" --bucket caro-backups-eu-west-1 --region eu-west-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.completeFromSettings()
			if err != nil {
				return err
			}
			if len(f.kmsKeys) == 0 {
				f.kmsKeys = []string{defaultBackupKey}
			}
			if err := f.validate(true); err != nil {
				return err
			}
			if o.source == "" {
				o.source = s.MongoURI
			}
			if o.database == "" {
				o.database = s.Database
			}
			if o.source == "" {
				return fmt.Errorf("no source database: pass --mongodb-uri or set CARO_MONGODB_URI")
			}
			store, k, err := backupClients(cmd.Context(), f)
			if err != nil {
				return err
			}
			progress, progressDone := backupProgress(streams, f.output)
			m, err := backup.Create(cmd.Context(), backup.CreateOptions{
				SourceURI: o.source, Database: o.database, Store: store, KMS: k, KeyID: f.kmsKeys[0],
				Region: f.region, Progress: progress,
			})
			progressDone()
			if err != nil {
				return err
			}
			if f.output == "json" {
				m.WrappedDataKey = nil // not secret, but noise for a summary
				m.MAC = ""
				return writeJSON(streams.Out, m)
			}
			fmt.Fprintf(streams.Out, "%s\t%d collections\t%d documents\t%d bytes\n", m.BackupID, len(m.Collections), m.Documents, m.StoredBytes)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.source, "mongodb-uri", "", "connection string of the database to back up (default: CARO_MONGODB_URI)")
	cmd.Flags().StringVar(&o.database, "database", "", "database to back up (default: CARO_DATABASE, else caro)")
	return cmd
}
