package localstack

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Chromium returns the path of Debian's Chromium, installing it the way the attack suite does
// (scripts/install-browser.sh: the distribution's build, never a downloaded one; idempotent).
func Chromium() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "install-browser.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("Chromium is needed for screenshot tests: scripts/install-browser.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Screenshot renders the local file page in headless Chromium at w x h pixels (no sandbox, no
// background network, scale 1, as the attack suite runs it) and decodes the PNG. workDir holds the
// browser's profile and the picture.
func Screenshot(ctx context.Context, browser, page, workDir string, w, h int) (image.Image, error) {
	shot := filepath.Join(workDir, "shot.png")
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir="+filepath.Join(workDir, "profile"),
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chromium --screenshot %s: %w\n%s", page, err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

// Band is a run of image rows holding a colour, with the widest horizontal run of it in those rows.
type Band struct{ Top, Bottom, Width int }

// Bands finds the horizontal bands of an exact colour (#rrggbb) in img, top to bottom.
func Bands(img image.Image, hex string) []Band {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	want := [3]uint32{uint32(v >> 16 & 0xff), uint32(v >> 8 & 0xff), uint32(v & 0xff)}
	b := img.Bounds()
	var out []Band
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
			out = append(out, Band{Top: y, Bottom: y, Width: best})
			in = true
		case best > 0:
			out[len(out)-1].Bottom = y
			out[len(out)-1].Width = max(out[len(out)-1].Width, best)
		default:
			in = false
		}
	}
	return out
}
