package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestWithoutATerminalEveryEventIsThePlainLine(t *testing.T) {
	var got []Event
	r := New(&bytes.Buffer{}, false, func(e Event) { got = append(got, e) })
	events := []Event{{Phase: "manifest", Message: "authenticated"}, {Phase: "stage", Item: "patients", Done: 5, Total: 10}}
	for _, e := range events {
		r.Report(e)
	}
	r.Close()
	if len(got) != len(events) || got[1] != events[1] {
		t.Fatalf("plain got %v, want every event as it came: %v", got, events)
	}
}

func TestOnATerminalACollectionIsABarWithCountRateAndETA(t *testing.T) {
	// GIVEN a terminal WHEN a restore reports a message and a collection's documents
	var w bytes.Buffer
	r := New(&w, true, func(Event) { t.Fatal("the plain lines are for no terminal") })
	r.Report(Event{Phase: "manifest", Message: "manifest of b1 authenticated"})
	for done := int64(0); done <= 1000; done += 250 {
		r.Report(Event{Phase: "stage", Item: "patients", Done: done, Total: 1000})
	}
	r.Report(Event{Phase: "stage", Item: "notes", Done: 10, Total: 40})
	r.Close()
	out := w.String()
	// THEN the message is a line, and each collection a bar with its count and rate
	for _, want := range []string{"manifest manifest of b1 authenticated\n", "stage    patients", "1000/1000", "docs/s", "stage    notes", "10/40"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if !strings.Contains(out, "\r") {
		t.Errorf("a bar redraws its line (\\r): %q", out)
	}
}

func TestLinesWithoutATerminalPassThrough(t *testing.T) {
	var w bytes.Buffer
	l := Lines(&w, false)
	in := "apply: [3/7] restore: starting\napply: [3/7] restore: stage notes 20000/25000\npartial"
	_, _ = l.Write([]byte(in))
	_ = l.Close()
	if w.String() != in {
		t.Fatalf("got %q, want the lines unchanged", w.String())
	}
}

func TestLinesOnATerminalTurnCountsIntoABar(t *testing.T) {
	var w bytes.Buffer
	l := Lines(&w, true)
	for _, line := range []string{"apply: [3/7] restore: starting\n", "apply: [3/7] restore: stage notes 2000", "0/25000\n",
		"apply: [3/7] restore: stage notes 25000/25000\n", "apply: [3/7] restore: done in 4s\n"} {
		_, _ = l.Write([]byte(line))
	}
	_ = l.Close()
	out := w.String()
	for _, want := range []string{"apply: [3/7] restore: starting\n", "stage    notes", "25000/25000", "docs/s", "apply: [3/7] restore: done in 4s\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "stage notes 20000/25000") {
		t.Errorf("a count line is printed as text instead of moving the bar: %q", out)
	}
}
