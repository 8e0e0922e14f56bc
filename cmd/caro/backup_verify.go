package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/backup"
)

// exitVerifyFailed is the exit status of a verification that ran and found the backup bad.
const exitVerifyFailed = 2

func newBackupVerifyCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	var target, scratch string
	cmd := &cobra.Command{
		Use:     "verify <backup-id> --mongodb-uri <uri>",
		Short:   "Restore a backup into a scratch database, check it against its manifest, drop it",
		Example: `  caro backup verify 20261123T020000Z-1a2b3c4d --mongodb-uri "$SCRATCH_MONGODB_URI" -o json`,
		Long: `The regular restore test: restores the backup into a new scratch database on the target server,
authenticates every chunk, compares counts and checksums with the manifest, recreates the
indexes, drops the scratch database and reports. Exits 2 when the backup is bad.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(true); err != nil {
				return err
			}
			if target == "" {
				s, err := loadSettings()
				if err != nil {
					return err
				}
				target = s.VerifyMongoURI
			}
			if target == "" {
				return fmt.Errorf("no scratch server: pass --mongodb-uri <uri> of a server for the scratch database (or set CARO_VERIFY_MONGODB_URI)")
			}
			store, k, err := backupClients(cmd.Context(), f)
			if err != nil {
				return err
			}
			progress, progressDone := backupProgress(streams, f.output)
			rep, err := backup.Verify(cmd.Context(), backup.VerifyOptions{
				BackupID: args[0], Store: store, KMS: k, AllowedKeys: f.kmsKeys, ScratchURI: target,
				ScratchDatabase: scratch, Progress: progress,
			})
			progressDone()
			if f.output == "json" {
				if werr := writeJSON(streams.Out, rep); werr != nil {
					return werr
				}
			} else if err == nil {
				fmt.Fprintf(streams.Out, "backup %s OK: %d documents in %d collections restored and checked\n", rep.BackupID, rep.Documents, len(rep.Collections))
			}
			if err != nil {
				return &exitError{code: exitVerifyFailed, err: fmt.Errorf("verify %s failed: %w", args[0], err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "mongodb-uri", "", "connection string of the server to restore the scratch copy into (default: CARO_VERIFY_MONGODB_URI, else CARO_MONGODB_URI)")
	cmd.Flags().StringVar(&scratch, "scratch-database", "", "scratch database name (default caro_verify_<suffix>; must not exist)")
	return cmd
}
