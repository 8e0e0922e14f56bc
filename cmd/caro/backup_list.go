package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/backup"
)

func newBackupListCmd(streams IOStreams, f *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List backups, newest first, with age, size and document counts",
		Example: `  caro backup list --region eu-west-1
  caro backup list --bucket caro-backups-<account>-eu-west-1 --region eu-west-1 -o json`,
		Long: `List backups, newest first. Counts come from the manifests without unwrapping their keys:
run "caro backup verify" to check a backup end to end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(false); err != nil {
				return err
			}
			store, _, err := backupClients(cmd.Context(), f)
			if err != nil {
				return err
			}
			list, err := backup.List(cmd.Context(), store, time.Now())
			if err != nil {
				return fmt.Errorf("listing backups in %s: %w", f.bucket, err)
			}
			if f.output == "json" {
				return writeJSON(streams.Out, list)
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKUP\tAGE\tSIZE\tDOCUMENTS\tREGION\tCOUNTS")
			for _, s := range list {
				if s.Problem != "" {
					fmt.Fprintf(tw, "%s\t-\t%s\t-\t-\tunreadable manifest: %s\n", s.BackupID, humanBytes(s.StoredBytes), s.Problem)
					continue
				}
				var counts []string
				for name, n := range s.Counts {
					counts = append(counts, fmt.Sprintf("%s=%d", name, n))
				}
				sort.Strings(counts)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.BackupID, humanAge(s.Age), humanBytes(s.StoredBytes), s.Documents, s.SourceRegion, strings.Join(counts, ","))
			}
			return tw.Flush()
		},
	}
}

func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
