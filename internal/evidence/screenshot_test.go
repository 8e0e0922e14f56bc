package evidence

import (
	"context"
	"image"
	"math"
	"os"
	"testing"

	"github.com/carohealth/platform/internal/localstack"
)

// chromium returns Debian's Chromium (localstack.Chromium).
func chromium(t *testing.T) string {
	t.Helper()
	path, err := localstack.Chromium()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// screenshot renders page in headless Chromium (localstack.Screenshot).
func screenshot(t *testing.T, browser, page string, w, h int) image.Image {
	t.Helper()
	img, err := localstack.Screenshot(context.Background(), browser, page, t.TempDir(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// bands finds the horizontal bands of an exact colour (localstack.Bands).
func bands(img image.Image, hex string) []localstack.Band { return localstack.Bands(img, hex) }

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
	bars := map[ControlStatus][]localstack.Band{}
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
			var got *localstack.Band
			k := 0
			for j := range bars[s] {
				// The bars are 22 px high; status chips are lower, the ledger box's border narrower.
				if h := bars[s][j].Bottom - bars[s][j].Top + 1; h < 20 || h > 24 || bars[s][j].Width < 5 {
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
			if math.Abs(float64(got.Width)-want) > 3 {
				t.Errorf("%s %s segment is %d px wide, want %.0f (%d of %d controls)", fw.Framework.ID, s, got.Width, want, n, fw.Total)
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
		if s.Width > steps[widest].Width {
			widest = i
		}
	}
	if widest != 2 || math.Abs(float64(steps[widest].Width)-440) > 2 {
		t.Errorf("widest drill bar is #%d at %d px, want the restore step (#2) at 440 px", widest, steps[widest].Width)
	}
	if dur := steps[0].Width; dur > 20 {
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
