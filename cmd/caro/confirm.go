package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/term"
)

// errNotConfirmed is returned when the operator answers anything but yes: nothing was changed.
var errNotConfirmed = errors.New("not confirmed: nothing was changed")

// confirm guards a destructive act, the same way in every command: -y/--yes goes ahead; otherwise
// on a terminal it asks on stderr ("<question> [y/N]") and reads the answer from stdin; without a
// terminal (a script, CI) it refuses, saying to pass --yes, rather than wait or assume.
func confirm(streams IOStreams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !isTerminal(streams.In) || !isTerminal(streams.ErrOut) {
		return fmt.Errorf("%s: refusing without confirmation: no terminal to ask on: pass -y/--yes to confirm", question)
	}
	fmt.Fprintf(streams.ErrOut, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(streams.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: 1, err: errNotConfirmed}
}

// terminal is a stream that says itself whether it is an interactive terminal (tests use it).
type terminal interface{ IsTerminal() bool }

// isTerminal reports whether the stream s (an *os.File in production) is an interactive terminal.
func isTerminal(s any) bool {
	switch f := s.(type) {
	case terminal:
		return f.IsTerminal()
	case interface{ Fd() uintptr }:
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}
