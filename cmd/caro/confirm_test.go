package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fakeTerminal is a stream that says it is an interactive terminal.
type fakeTerminal struct{ bytes.Buffer }

func (*fakeTerminal) IsTerminal() bool { return true }

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		yes      bool
		terminal bool
		answer   string
		wantErr  string
		asked    bool
	}{
		{name: "--yes goes ahead without asking", yes: true},
		{name: "no terminal refuses and names --yes", wantErr: "pass -y/--yes"},
		{name: "terminal, y", terminal: true, answer: "y\n", asked: true},
		{name: "terminal, YES", terminal: true, answer: "YES\n", asked: true},
		{name: "terminal, n", terminal: true, answer: "n\n", wantErr: "nothing was changed", asked: true},
		{name: "terminal, just Enter", terminal: true, answer: "\n", wantErr: "nothing was changed", asked: true},
		{name: "terminal closed", terminal: true, answer: "", wantErr: "nothing was changed", asked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			streams := IOStreams{In: strings.NewReader(tc.answer), Out: &out, ErrOut: &bytes.Buffer{}}
			errOut := &fakeTerminal{}
			if tc.terminal {
				in := &fakeTerminal{}
				in.WriteString(tc.answer)
				streams.In, streams.ErrOut = in, errOut
			}
			err := confirm(streams, tc.yes, "Replace the data of eu-central-1?")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if asked := strings.Contains(errOut.String(), "Replace the data of eu-central-1? [y/N]"); asked != tc.asked {
				t.Errorf("asked on stderr = %v, want %v (stderr %q)", asked, tc.asked, errOut.String())
			}
			if out.Len() > 0 {
				t.Errorf("the question went to stdout: %q", out.String())
			}
			if tc.wantErr == "nothing was changed" && !errors.Is(err, errNotConfirmed) {
				t.Errorf("a refusal should be errNotConfirmed, got %v", err)
			}
		})
	}
}
