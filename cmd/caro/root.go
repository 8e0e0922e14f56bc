package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// IOStreams are the streams a command reads and writes; tests inject buffers.
// Data goes to Out, progress and prompts to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// exitError carries a specific exit status out of a command (for example a failed verification).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// newRootCmd builds the command tree. Each noun-verb command lives in its own file.
func newRootCmd(streams IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "caro",
		Short:         "Operate the Caro platform: failover, backups, audit ledger, local drill",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newVersionCmd(streams))
	for _, add := range commandRegistry {
		root.AddCommand(add(streams))
	}
	return root
}

// commandRegistry lets each command group file register itself in an init function, so adding a
// command never means editing a shared list.
var commandRegistry []func(IOStreams) *cobra.Command

// registerCommand adds a top-level command group to caro.
func registerCommand(f func(IOStreams) *cobra.Command) { commandRegistry = append(commandRegistry, f) }

// Execute runs caro with args and returns the process exit status.
func Execute(args []string, in io.Reader, out, errOut io.Writer) int {
	streams := IOStreams{In: in, Out: out, ErrOut: errOut}
	root := newRootCmd(streams)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(errOut, "Error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// writeJSON writes v as indented JSON: the `-o json` output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
