package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd(streams IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the caro version",
		Example: `  caro version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(streams.Out, "caro %s (%s/%s)\n", version, runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
