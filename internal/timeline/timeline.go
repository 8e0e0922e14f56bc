// Package timeline draws a failover as one picture: a row per step on a time axis that starts at
// the last backup and ends at the confirmed failover, with the RPO (what was written after the
// backup and is lost) and the RTO (from the primary's death to the confirmed failover) marked. The
// page is self-contained HTML with an inline SVG, so it opens from a CI artifact or a laptop with
// no network; a table under the picture holds the same numbers as text.
package timeline

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Timeline is a failover to draw. Times are offsets from the primary's death (zero).
type Timeline struct {
	// Title heads the page, e.g. "Drill eu-west-1 -> eu-central-1, 50000 records".
	Title string
	// RPO is the age of the restored backup when the primary died: the axis starts at -RPO.
	RPO time.Duration
	// RTO is when the failover was confirmed.
	RTO time.Duration
	// Steps are drawn top to bottom in this order.
	Steps []Step
	// Notes are lines of text under the picture (records and checksums, DNS, problems).
	Notes []string
}

// Step is one step of the failover.
type Step struct {
	Name       string
	Start, End time.Duration
	// Status "failed" or "not-run" is drawn red; any other (completed, done-before, ...) blue.
	Status string
	Detail string
}

// Colours of the picture; the screenshot test looks for them.
const (
	ColourStep   = "#0969da"
	ColourFailed = "#cf222e"
	ColourRPO    = "#bc4c00"
	ColourRTO    = "#8250df"
	colourDeath  = "#24292f"
	colourRPOBg  = "#fff1e5"
	colourRTOBg  = "#fbefff"
	colourGrid   = "#d0d7de"
)

// Geometry of the SVG, in pixels.
const (
	labelW = 130
	chartW = 720
	rightW = 110
	rowH   = 30
	barH   = 16
	headH  = 56
	footH  = 40
)

// WriteHTML writes the page.
func (t Timeline) WriteHTML(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>`)
	b.WriteString(html.EscapeString(t.Title))
	b.WriteString(`</title><style>body{font-family:system-ui,sans-serif;margin:24px;color:#24292f}` +
		`table{border-collapse:collapse;margin-top:16px}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left}` +
		`td.n{text-align:right}td.n,td.s{white-space:nowrap}p.note{margin:4px 0}</style></head><body>`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(t.Title))
	fmt.Fprintf(&b, "<p>RPO %s: the data written in the last %s before the primary died is lost. RTO %s: from the primary's death to the confirmed failover.</p>\n",
		seconds(t.RPO), seconds(t.RPO), seconds(t.RTO))
	b.WriteString(t.SVG())
	b.WriteString("\n<table><tr><th>step</th><th>start</th><th>end</th><th>took</th><th>status</th><th>detail</th></tr>\n")
	for _, s := range t.Steps {
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%.2f s</td><td class=n>%.2f s</td><td class=n>%s</td><td class=s>%s</td><td>%s</td></tr>\n",
			html.EscapeString(s.Name), s.Start.Seconds(), s.End.Seconds(), duration(s.End-s.Start), html.EscapeString(s.Status), html.EscapeString(s.Detail))
	}
	b.WriteString("</table>\n")
	for _, n := range t.Notes {
		fmt.Fprintf(&b, "<p class=note>%s</p>\n", html.EscapeString(n))
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// SVG draws the timeline.
func (t Timeline) SVG() string {
	from, to := t.span()
	x := func(d time.Duration) float64 {
		return labelW + chartW*float64(d-from)/float64(to-from)
	}
	h := headH + rowH*len(t.Steps) + footH
	w := labelW + chartW + rightW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="failover timeline" font-size="12">`, w, h, w, h)
	top, bottom := float64(headH-8), float64(headH+rowH*len(t.Steps))
	// The windows: what was lost (backup to death) and the outage (death to confirmed).
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x(-t.RPO), top, x(0)-x(-t.RPO), bottom-top, colourRPOBg)
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x(0), top, x(t.RTO)-x(0), bottom-top, colourRTOBg)
	// The axis with a tick per step of a round size.
	tick := tickSize(to - from)
	for d := time.Duration(math.Ceil(float64(from)/float64(tick))) * tick; d <= to; d += tick {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x(d), bottom, x(d), bottom+5, colourGrid)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#57606a">%s</text>`, x(d), bottom+18, seconds(d))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, labelW, bottom, labelW+chartW, bottom, colourGrid)
	// The marks: backup (start of the RPO), death, confirmed failover (end of the RTO).
	mark := func(d time.Duration, colour, label string, y float64, anchor string) {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x(d), top, x(d), bottom, colour)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="#24292f">%s</text>`, x(d), y, anchor, html.EscapeString(label))
	}
	mark(-t.RPO, ColourRPO, "backup (RPO "+seconds(t.RPO)+")", 16, "start")
	mark(0, colourDeath, "primary dies", 32, "middle")
	mark(t.RTO, ColourRTO, "confirmed (RTO "+seconds(t.RTO)+")", 16, "end")
	for i, s := range t.Steps {
		y := float64(headH + i*rowH + (rowH-barH)/2)
		fill := ColourStep
		if !completed(s.Status) {
			fill = ColourFailed
		}
		bw := math.Max(x(s.End)-x(s.Start), 3) // a step of milliseconds stays visible
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, labelW-8, y+12, html.EscapeString(s.Name))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s: %s to %s (%s)</title></rect>`,
			x(s.Start), y, bw, barH, fill, html.EscapeString(s.Name), seconds(s.Start), seconds(s.End), html.EscapeString(s.Status))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#57606a">%s</text>`, x(s.Start)+bw+6, y+12, duration(s.End-s.Start))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// span is the axis: from the backup (or the first step) to the confirmed failover (or the last
// step's end), with room on the right for the last label.
func (t Timeline) span() (from, to time.Duration) {
	from, to = -t.RPO, t.RTO
	for _, s := range t.Steps {
		from, to = min(from, s.Start), max(to, s.End)
	}
	if to <= from {
		to = from + time.Second
	}
	return from, to + (to-from)/12
}

// tickSize is a round interval giving about eight ticks over span.
func tickSize(span time.Duration) time.Duration {
	for _, d := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour} {
		if span/d <= 10 {
			return d
		}
	}
	return 6 * time.Hour
}

func completed(status string) bool { return status != "failed" && status != "not-run" }

// duration is how long a step took: milliseconds under a second.
func duration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func seconds(d time.Duration) string {
	s := d.Seconds()
	if math.Abs(s) >= 100 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}
