package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/backup"
)

func init() { registerCommand(newBackupCmd) }

// backupFlags are shared by the backup subcommands. What a flag leaves empty comes from the
// settings (complete), never from a flag default, so help shows no value.
type backupFlags struct {
	bucket string
	region string
	// kmsKeys: for create the key written with (the first); for restore, verify and the identity
	// export the keys a backup may be encrypted under.
	kmsKeys []string
	output  string
	// erasureBuckets are further buckets whose erasure registers are read with --bucket's as one
	// (--erasure-bucket of restore and atlas-restore; the repeated --bucket of gdpr).
	erasureBuckets []string
}

func newBackupCmd(streams IOStreams) *cobra.Command {
	f := &backupFlags{}
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Create, list, restore and verify encrypted logical backups",
		Example: `  caro backup list --region eu-west-1
  caro backup restore <backup-id> --mongodb-uri "$STANDBY_MONGODB_URI" --region eu-central-1`,
		Long: `Logical backups of the application database: every collection as BSON, zstd-compressed,
AES-256-GCM-encrypted in authenticated chunks under a per-backup KMS data key from the
multi-Region backup key, stored in S3 with a MACed manifest (docs/backup-format.md).

AWS access uses the default credential chain; AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_KMS point
the commands at local servers (path-style S3 then).`,
	}
	p := cmd.PersistentFlags()
	p.StringVar(&f.bucket, "bucket", "", "backup bucket (default: CARO_BACKUP_BUCKET)")
	p.StringVar(&f.region, "region", "", "AWS region of the bucket and key (default: CARO_REGION)")
	p.StringArrayVar(&f.kmsKeys, "kms-key", nil, "KMS key ID/ARN/alias, repeatable: for create the multi-Region key written with; for restore and verify the keys a backup may be encrypted under, "+
		"the region's backup key and its replica of the peer region's (default: CARO_BACKUP_KEY_ID and CARO_PEER_BACKUP_KEY_ID); any other key is refused")
	p.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	for _, sub := range backupSubcommands {
		cmd.AddCommand(sub(streams, f))
	}
	return cmd
}

// backupSubcommands lists the backup subcommands; each file may add its own in an init.
var backupSubcommands = []func(IOStreams, *backupFlags) *cobra.Command{newBackupCreateCmd, newBackupListCmd, newBackupRestoreCmd, newBackupVerifyCmd}

// completeFromSettings fills what the flags left empty from the settings, and returns them.
func (f *backupFlags) completeFromSettings() (envSettings, error) {
	s, err := loadSettings()
	if err != nil {
		return s, err
	}
	f.complete(s)
	return s, nil
}

// complete fills what the flags left empty from the settings.
func (f *backupFlags) complete(s envSettings) {
	if f.bucket == "" {
		f.bucket = s.BackupBucket
	}
	if f.region == "" {
		f.region = s.Region
	}
	if len(f.kmsKeys) == 0 {
		f.kmsKeys = s.BackupKeys
	}
}

func (f *backupFlags) validate(needKey bool) error {
	if _, err := f.completeFromSettings(); err != nil {
		return err
	}
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("invalid --output %q: use text or json", f.output)
	}
	if f.bucket == "" {
		return fmt.Errorf("no backup bucket: pass --bucket or set CARO_BACKUP_BUCKET")
	}
	if f.region == "" {
		return fmt.Errorf("no region: pass --region or set CARO_REGION")
	}
	if needKey && len(f.kmsKeys) == 0 {
		return fmt.Errorf("no KMS key: a backup is only read under the keys it may be encrypted with; pass --kms-key <the region's backup key> --kms-key <its replica of the peer's> (the BackupKeyArn outputs), or set CARO_BACKUP_KEY_ID and CARO_PEER_BACKUP_KEY_ID")
	}
	return nil
}

// backupClients builds the object store and KMS adapters (internal/backup, through the default AWS
// configuration); tests replace it.
var backupClients = func(ctx context.Context, f *backupFlags) (backup.ObjectStore, backup.KMS, error) {
	s, err := loadSettings()
	if err != nil {
		return nil, nil, err
	}
	return backup.OpenAWS(ctx, f.region, f.bucket, s.S3PathStyle)
}

// progressPrinter writes progress events to w (stderr), one line per event.
func progressPrinter(w io.Writer) func(backup.Progress) { return backup.ProgressWriter(w) }
