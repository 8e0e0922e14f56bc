package main

import (
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/progress"
)

// backupProgress is the progress display of a backup or a restore: on a terminal a bar per
// collection (documents done, rate, ETA) on stderr; without one, or when stdout carries -o json,
// the plain lines of backup.ProgressWriter. Call done when the operation ends.
func backupProgress(streams IOStreams, output string) (report func(backup.Progress), done func()) {
	plain := backup.ProgressWriter(streams.ErrOut)
	r := progress.New(streams.ErrOut, output != "json" && isTerminal(streams.ErrOut), func(e progress.Event) { plain(backupEvent(e)) })
	return func(p backup.Progress) { r.Report(progressEvent(p)) }, r.Close
}

func progressEvent(p backup.Progress) progress.Event {
	return progress.Event{Phase: p.Phase, Item: p.Collection, Done: p.Done, Total: p.Total, Message: p.Message}
}

func backupEvent(e progress.Event) backup.Progress {
	return backup.Progress{Phase: e.Phase, Collection: e.Item, Done: e.Done, Total: e.Total, Message: e.Message}
}
