package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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
		Use:   "caro",
		Short: "Operate the Caro platform: failover, backups, audit ledger, local drill",
		Example: `  caro failover plan --to eu-central-1
  caro backup list --region eu-west-1
  caro completion bash > /etc/bash_completion.d/caro`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true, // keeps the generated reference (docs/cli) free of dates
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newVersionCmd(streams))
	for _, add := range commandRegistry {
		root.AddCommand(add(streams))
	}
	addCompletionCmd(root)
	root.SetHelpCommand(newHelpCmd())
	requireVerbs(root)
	registerValueCompletions(root)
	return root
}

// requireVerbs makes every group command (one with verbs under it and no action of its own) fail
// without a verb, printing its help on stderr, and fail on a verb it does not know, suggesting
// the nearest ones: cobra's default prints the help and exits 0, so `caro failover aply` looked
// like success. Commands with an action and verbs under them refuse unknown positional words too.
func requireVerbs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireVerbs(sub)
	}
	if !c.HasSubCommands() {
		return
	}
	c.SuggestionsMinimumDistance = 2
	if !c.Runnable() {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[groupAnnotation] = "true"
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return fmt.Errorf("%s needs a command: %s (see above)", cmd.CommandPath(), strings.Join(verbs(cmd), ", "))
		}
		return
	}
	if c.Args == nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		}
	}
}

// newHelpCmd is `caro help [command]`: cobra's, except that a topic naming no command fails (cobra's
// prints "Unknown help topic" and exits 0).
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  caro help failover apply",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return unknownCommand(cmd, rest[0])
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// groupAnnotation marks a group command: a noun whose only action is to ask for a verb.
const groupAnnotation = "caro/group"

// unknownCommand is the error for a word that names none of cmd's commands, with cobra's
// suggestions ("did you mean apply?").
func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += ": did you mean " + strings.Join(s, " or ") + "?"
	} else {
		msg += ": its commands are " + strings.Join(verbs(cmd), ", ")
	}
	return errors.New(msg + " (run '" + cmd.CommandPath() + " --help')")
}

// verbs lists the commands under cmd an operator may run.
func verbs(cmd *cobra.Command) []string {
	var out []string
	for _, s := range cmd.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, s.Name())
		}
	}
	return out
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
