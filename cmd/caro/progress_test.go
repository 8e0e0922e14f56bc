package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/backup"
)

var restoreEvents = []backup.Progress{
	{Phase: "manifest", Message: "manifest of b1 authenticated: 2 collections"},
	{Phase: "stage", Collection: "patients", Done: 500, Total: 1000},
	{Phase: "stage", Collection: "patients", Done: 1000, Total: 1000, Message: "authenticated"},
	{Phase: "indexes", Collection: "patients"},
	{Phase: "done", Done: 1000, Total: 1000, Message: "restored 1000 documents into caro"},
}

func TestProgressWithoutATerminalIsThePlainLines(t *testing.T) {
	// GIVEN the plain lines a restore always printed
	var want bytes.Buffer
	plain := backup.ProgressWriter(&want)
	for _, p := range restoreEvents {
		plain(p)
	}
	for _, tc := range []struct {
		name   string
		errOut interface {
			Write([]byte) (int, error)
			String() string
		}
		output string
	}{
		{"stderr is not a terminal", &bytes.Buffer{}, "text"},
		{"a terminal, but stdout carries JSON", &fakeTerminal{}, "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// WHEN the progress goes to stderr
			report, done := backupProgress(IOStreams{ErrOut: tc.errOut}, tc.output)
			for _, p := range restoreEvents {
				report(p)
			}
			done()
			// THEN it is exactly those lines, no bar
			if got := tc.errOut.String(); got != want.String() {
				t.Fatalf("progress =\n%q\nwant the plain lines\n%q", got, want.String())
			}
		})
	}
}

func TestProgressOnATerminalIsABar(t *testing.T) {
	errOut := &fakeTerminal{}
	report, done := backupProgress(IOStreams{ErrOut: errOut}, "text")
	for _, p := range restoreEvents {
		report(p)
	}
	done()
	if out := errOut.String(); !strings.Contains(out, "1000/1000") || !strings.Contains(out, "docs/s") || !strings.Contains(out, "indexes  patients\n") {
		t.Fatalf("terminal progress = %q: want a bar with count and rate, and the other events as lines", out)
	}
}
