package evidence

import (
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns Debian's Chromium, installing it the way the attack suite does
// (scripts/install-browser.sh, idempotent).
func chromium(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("../../scripts/install-browser.sh").Output()
	if err != nil {
		t.Fatalf("Chromium is needed for the report's screenshot test: scripts/install-browser.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// screenshot renders page in headless Chromium (no sandbox, no background network, as the attack
// suite runs it) and decodes the PNG.
func screenshot(t *testing.T, browser, page string, w, h int) image.Image {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir="+t.TempDir(),
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// band is a run of rows holding a colour, with the widest horizontal run of it in those rows.
type band struct{ top, bottom, width int }

// bands finds the horizontal bands of an exact colour (#rrggbb) and their widest run.
func bands(img image.Image, hex string) []band {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	want := [3]uint32{uint32(v >> 16 & 0xff), uint32(v >> 8 & 0xff), uint32(v & 0xff)}
	b := img.Bounds()
	var out []band
	in := false
	for y := b.Min.Y; y < b.Max.Y; y++ {
		run, best := 0, 0
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if [3]uint32{r >> 8, g >> 8, bl >> 8} == want {
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
		switch {
		case best > 0 && !in:
			out = append(out, band{top: y, bottom: y, width: best})
			in = true
		case best > 0:
			out[len(out)-1].bottom = y
			out[len(out)-1].width = max(out[len(out)-1].width, best)
		default:
			in = false
		}
	}
	return out
}

func TestTheHTMLReportRendersTheSummaryAndTheDrillChartInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	browser := chromium(t)
	// GIVEN a report with satisfied, failed and not evidenced controls (no govulncheck report)
	f := newFixture(t)
	if err := os.Remove(f.in.Govulncheck); err != nil {
		t.Fatal(err)
	}
	res, err := runFixture(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	// WHEN Chromium renders it
	img := screenshot(t, browser, res.HTMLPath, 1280, 2200)

	// THEN the framework summary shows one bar per framework, each split by status in proportion
	bars := map[ControlStatus][]band{}
	for _, s := range ControlStatuses {
		bars[s] = bands(img, StatusColour(s))
	}
	sums := res.Assessment.Frameworks
	// The summary bars are the first green, red and grey bands, in framework order (the legend
	// chips below them are smaller and come after).
	for i, fw := range sums {
		total := 320.0
		for _, s := range []ControlStatus{Satisfied, ControlFail, NotEvidenced} {
			n := fw.Counts[s]
			if n == 0 {
				continue
			}
			var got *band
			k := 0
			for j := range bars[s] {
				// The bars are 22 px high; status chips are lower, the ledger box's border narrower.
				if h := bars[s][j].bottom - bars[s][j].top + 1; h < 20 || h > 24 || bars[s][j].width < 5 {
					continue
				}
				if k == indexAmong(sums, i, s) {
					got = &bars[s][j]
					break
				}
				k++
			}
			if got == nil {
				t.Fatalf("%s: no %s segment rendered in the summary", fw.Framework.ID, s)
			}
			want := total * float64(n) / float64(fw.Total)
			if math.Abs(float64(got.width)-want) > 3 {
				t.Errorf("%s %s segment is %d px wide, want %.0f (%d of %d controls)", fw.Framework.ID, s, got.width, want, n, fw.Total)
			}
		}
	}
	// AND the drill chart draws one bar per step, the restore step the longest (440 px)
	steps := bands(img, colourDrillStep)
	if len(steps) != 7 {
		t.Fatalf("%d drill bars rendered, want 7 (one per step): %+v", len(steps), steps)
	}
	widest := 0
	for i, s := range steps {
		if s.width > steps[widest].width {
			widest = i
		}
	}
	if widest != 2 || math.Abs(float64(steps[widest].width)-440) > 2 {
		t.Errorf("widest drill bar is #%d at %d px, want the restore step (#2) at 440 px", widest, steps[widest].width)
	}
	if dur := steps[0].width; dur > 20 {
		t.Errorf("the preflight bar (0.05 s of 2.4 s) is %d px wide", dur)
	}
}

// indexAmong is how many frameworks before i also have controls of status s: the position of
// framework i's segment among the bands of that colour.
func indexAmong(sums []FrameworkSummary, i int, s ControlStatus) int {
	n := 0
	for j := 0; j < i; j++ {
		if sums[j].Counts[s] > 0 {
			n++
		}
	}
	return n
}
