package timeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/localstack"
)

func s(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// drill is a failover as the drill reports it: a 9 s old backup, a plan, seven steps, the restore
// the longest, the apply killed in the restore and resumed (a gap), a 2 ms dns step.
var drill = Timeline{
	Title: "Drill eu-west-1 -> eu-central-1, 50000 records",
	RPO:   s(9.2),
	RTO:   s(14.1),
	Steps: []Step{
		{Name: "plan", Start: 0, End: s(0.3), Status: "completed"},
		{Name: "preflight", Start: s(0.4), End: s(0.42), Status: "completed"},
		{Name: "deploy", Start: s(0.42), End: s(0.52), Status: "completed"},
		{Name: "restore", Start: s(0.52), End: s(12.9), Status: "completed", Detail: "50008 documents"},
		{Name: "identities", Start: s(12.9), End: s(13.0), Status: "completed"},
		{Name: "verify", Start: s(13.0), End: s(13.01), Status: "completed"},
		{Name: "dns", Start: s(13.01), End: s(13.012), Status: "completed"},
		{Name: "confirm", Start: s(13.012), End: s(14.1), Status: "completed"},
	},
	Notes: []string{"Records 50008/50008"},
}

func TestThePageHoldsEveryStepAndTheMarks(t *testing.T) {
	var b bytes.Buffer
	if err := drill.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, st := range drill.Steps {
		if !strings.Contains(page, "<td>"+st.Name+"</td>") || !strings.Contains(page, ">"+st.Name+"</text>") {
			t.Errorf("step %s is not in the picture and the table", st.Name)
		}
	}
	for _, want := range []string{"backup (RPO 9.2 s)", "primary dies", "confirmed (RTO 14.1 s)", "Records 50008/50008"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(page, `fill="`+ColourStep+`"`); n != len(drill.Steps) {
		t.Errorf("%d step bars, want %d", n, len(drill.Steps))
	}
	if strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("the page loads something from the network")
	}
}

func TestAFailedStepIsRed(t *testing.T) {
	tl := drill
	tl.Steps = append([]Step(nil), drill.Steps...)
	tl.Steps[3].Status = "failed"
	if n := strings.Count(tl.SVG(), `fill="`+ColourFailed+`"`); n != 1 {
		t.Fatalf("%d red bars, want the failed restore", n)
	}
}

func TestChromiumShowsEveryStepWithRTOAndRPO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	browser, err := localstack.Chromium()
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN the drill's timeline page WHEN Chromium renders it
	dir := t.TempDir()
	page := filepath.Join(dir, "drill-timeline.html")
	var b bytes.Buffer
	if err := drill.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := localstack.Screenshot(context.Background(), browser, page, dir, 1100, 700)
	if err != nil {
		t.Fatal(err)
	}
	// THEN every step is a bar of its own, top to bottom, even the 2 ms one
	bars := localstack.Bands(img, ColourStep)
	if len(bars) != len(drill.Steps) {
		t.Fatalf("%d step bars rendered, want %d (one per step): %+v", len(bars), len(drill.Steps), bars)
	}
	widest := 0
	for i, bar := range bars {
		if h := bar.Bottom - bar.Top + 1; h < barH-1 || h > barH+1 {
			t.Errorf("bar %d (%s) is %d px high, want %d", i, drill.Steps[i].Name, h, barH)
		}
		if bar.Width > bars[widest].Width {
			widest = i
		}
	}
	if drill.Steps[widest].Name != "restore" {
		t.Errorf("the widest bar is %s, want the restore", drill.Steps[widest].Name)
	}
	// AND the RPO and RTO are marked by lines across the steps
	for name, colour := range map[string]string{"RPO": ColourRPO, "RTO": ColourRTO} {
		marks := localstack.Bands(img, colour)
		if len(marks) == 0 || marks[0].Width > 3 || marks[len(marks)-1].Bottom-marks[0].Top < rowH*(len(drill.Steps)-1) {
			t.Errorf("the %s is not marked by a line across the steps: %+v", name, marks)
		}
	}
}
