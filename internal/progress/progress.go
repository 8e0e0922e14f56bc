// Package progress shows the progress of a long operation (a backup, a restore, the restore step of
// a failover) to the operator: on a terminal a bar per collection with documents done, rate and
// ETA (github.com/schollz/progressbar); anywhere else the plain lines the caller already prints, so
// logs and scripts see what they always saw.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Event is one progress report: Done of Total documents of Item (a collection) in Phase, or, with
// no Total, a Message.
type Event struct {
	Phase   string
	Item    string
	Done    int64
	Total   int64
	Message string
}

// Reporter receives events; Close ends the display (the last bar is completed or left where it
// stopped, and nothing more is drawn).
type Reporter interface {
	Report(Event)
	Close()
}

// New returns bars on w when terminal is true, else the plain lines of plain.
func New(w io.Writer, terminal bool, plain func(Event)) Reporter {
	if !terminal {
		return lines(plain)
	}
	return &bars{w: w}
}

// lines is the fallback: every event as the caller's plain line.
type lines func(Event)

func (l lines) Report(e Event) { l(e) }
func (lines) Close()           {}

// bars draws one bar per (phase, item) with a known total; messages are printed as lines above it.
type bars struct {
	w   io.Writer
	mu  sync.Mutex
	key string
	bar *progressbar.ProgressBar
}

func (b *bars) Report(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.Total <= 0 {
		b.printLine(fmt.Sprintf("%-8s %s", e.Phase, message(e)))
		return
	}
	if key := e.Phase + "\x00" + e.Item; key != b.key || b.bar == nil {
		b.finish()
		b.key = key
		b.bar = progressbar.NewOptions64(e.Total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(fmt.Sprintf("%-8s %s", e.Phase, e.Item)),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("docs"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionUseANSICodes(true),
		)
	}
	_ = b.bar.Set64(min(e.Done, e.Total))
	if e.Done >= e.Total {
		b.finish()
	}
}

// line prints s above the bar.
func (b *bars) line(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.printLine(s)
}

// printLine prints s on a line of its own above the current bar (held: b.mu).
func (b *bars) printLine(s string) {
	if b.bar != nil {
		_ = b.bar.Clear()
	}
	fmt.Fprintln(b.w, s)
	if b.bar != nil {
		_ = b.bar.RenderBlank()
	}
}

func (b *bars) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finish()
}

// finish ends the current bar on its own line.
func (b *bars) finish() {
	if b.bar == nil {
		return
	}
	if !b.bar.IsFinished() {
		_ = b.bar.Exit()
	}
	fmt.Fprintln(b.w)
	b.bar, b.key = nil, ""
}

func message(e Event) string {
	if e.Item == "" {
		return e.Message
	}
	if e.Message == "" {
		return e.Item
	}
	return e.Item + " " + e.Message
}

// countLine is a progress line that ends in "<phase> <item> <done>/<total>", as
// backup.ProgressWriter writes a collection's progress (also behind a prefix such as a child
// process's "apply: [3/7] restore: ").
var countLine = regexp.MustCompile(`(\S+) (\S+) (\d+)/(\d+)$`)

// Lines returns a writer for progress that arrives as text lines (a child process's stderr): on a
// terminal a line ending in "<phase> <item> <done>/<total>" moves a bar and every other line is
// printed as it is; without a terminal every line passes through unchanged. Close ends the bar.
func Lines(w io.Writer, terminal bool) io.WriteCloser {
	if !terminal {
		return nopCloser{w}
	}
	return &lineBars{bars: &bars{w: w}}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// lineBars splits what it is given into lines and reports each to bars.
type lineBars struct {
	bars    *bars
	partial []byte
}

func (l *lineBars) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineBars) line(s string) {
	if m := countLine.FindStringSubmatch(s); m != nil {
		done, _ := strconv.ParseInt(m[3], 10, 64)
		total, _ := strconv.ParseInt(m[4], 10, 64)
		if total > 0 {
			l.bars.Report(Event{Phase: m[1], Item: m[2], Done: done, Total: total})
			return
		}
	}
	l.bars.line(s)
}

func (l *lineBars) Close() error {
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
	l.bars.Close()
	return nil
}
