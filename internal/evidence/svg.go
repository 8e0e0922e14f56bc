package evidence

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Colours of the report, one per status; the screenshot test looks for them.
const (
	colourSatisfied    = "#1a7f37"
	colourFailed       = "#cf222e"
	colourStale        = "#bf8700"
	colourNotEvidenced = "#8c959f"
	colourDrillStep    = "#0969da"
	colourTarget       = "#cf222e"
)

var countColours = []string{"#6e7781", "#8250df", "#1b7c83", "#9a6700"}

// StatusColour is the colour of a control status.
func StatusColour(s ControlStatus) string {
	switch s {
	case Satisfied:
		return colourSatisfied
	case ControlFail:
		return colourFailed
	case ControlStale:
		return colourStale
	}
	return colourNotEvidenced
}

// summaryBarSVG is a framework's controls as one stacked bar, a segment per status.
func summaryBarSVG(s FrameworkSummary) template.HTML {
	const w, h = 320, 22
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="summary-bar" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, w, h, html.EscapeString(s.Framework.Title))
	x := 0.0
	for _, st := range ControlStatuses {
		n := s.Counts[st]
		if n == 0 || s.Total == 0 {
			continue
		}
		sw := float64(w) * float64(n) / float64(s.Total)
		fmt.Fprintf(&b, `<rect x="%.1f" y="0" width="%.1f" height="%d" fill="%s"><title>%s: %d</title></rect>`, x, sw, h, StatusColour(st), st, n)
		x += sw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// drillChartSVG draws the drill's seconds per step as horizontal bars, with the RTO target noted.
func drillChartSVG(e *Evidence) template.HTML {
	if e == nil || len(e.Steps) == 0 {
		return template.HTML(`<p class="none">No drill report: no chart.</p>`)
	}
	const labelW, barW, rowH, valueW = 110, 440, 26, 90
	max := 0.0
	total := 0.0
	for _, s := range e.Steps {
		total += s.Seconds
		if s.Seconds > max {
			max = s.Seconds
		}
	}
	if max <= 0 {
		max = 1
	}
	h := rowH*len(e.Steps) + 30
	w := labelW + barW + valueW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="drill-chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="Drill seconds per step">`, w, h, w, h)
	for i, s := range e.Steps {
		y := i*rowH + 4
		bw := float64(barW) * s.Seconds / max
		if bw < 2 {
			bw = 2
		}
		fill := colourDrillStep
		if s.Status != "" && s.Status != "completed" && s.Status != "ok" && s.Status != "done" {
			fill = colourFailed
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="end">%s</text>`, labelW-8, y+15, html.EscapeString(s.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="18" fill="%s"><title>%s: %.2f s (%s)</title></rect>`, labelW, y, bw, fill, html.EscapeString(s.Name), s.Seconds, html.EscapeString(s.Status))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12">%.2f s</text>`, float64(labelW)+bw+6, y+14, s.Seconds)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">steps add up to %.1f s; RTO target %.0f s</text>`, labelW, h-8, total, e.TargetSeconds)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// countsChartSVG draws each evidence's counts as one row of segments proportional to the row's
// total (problem counts in red), with the numbers beside it.
func countsChartSVG(evs []Evidence) template.HTML {
	const labelW, barW, rowH, textW = 200, 260, 24, 420
	var rows []Evidence
	for _, e := range evs {
		if len(e.Counts) > 0 {
			rows = append(rows, e)
		}
	}
	if len(rows) == 0 {
		return template.HTML(`<p class="none">No counts: no evidence was read.</p>`)
	}
	h := rowH*len(rows) + 6
	w := labelW + barW + textW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="counts-chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="Finding counts">`, w, h, w, h)
	for i, e := range rows {
		y := i*rowH + 3
		total := 0
		for _, c := range e.Counts {
			total += c.Value
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`, labelW-8, y+13, html.EscapeString(e.ID))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="#eaeef2"/>`, labelW, y, barW)
		x := float64(labelW)
		var parts []string
		for j, c := range e.Counts {
			parts = append(parts, fmt.Sprintf("%d %s", c.Value, c.Label))
			if total == 0 || c.Value == 0 {
				continue
			}
			fill := countColours[j%len(countColours)]
			if c.Bad {
				fill = colourFailed
			}
			sw := float64(barW) * float64(c.Value) / float64(total)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="16" fill="%s"><title>%s: %d</title></rect>`, x, y, sw, fill, html.EscapeString(c.Label), c.Value)
			x += sw
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">%s</text>`, labelW+barW+8, y+13, html.EscapeString(strings.Join(parts, ", ")))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
