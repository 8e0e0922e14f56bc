// Command benchsynth measures warm synth time and peak memory of the whole CDK app beside the
// one-stack baseline app, in the same run, and prints the ratios against the goals (whole app at
// most 1.5x the baseline's time, peak RSS at most 800 MB).
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sampleEvery is how often the apps' memory is read. A reading scans all of /proc (about 0.75 ms
// here), so every 10 ms it took 7 % of a core from the apps being timed; the resident sets it looks
// for (jsii's Node process, the validator's engine) hold for seconds.
const sampleEvery = 25 * time.Millisecond

const runs = 5 // odd, for a median; five because single runs on 2 cores vary by ±5%

type sample struct {
	wall  time.Duration
	rssMB float64
}

func build(pkg, out string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fail("building %s: %v", pkg, err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-synth: "+format+"\n", args...)
	os.Exit(1)
}

// synth runs one app binary as the CDK CLI would (CDK_OUTDIR=out) and measures it. An app runs four
// processes at once (Go, jsii's two Node processes, the template validator's Node process), so its
// memory is the peak of their resident sets added up, sampled every sampleEvery.
func synth(bin, out string) sample {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CDK_OUTDIR="+out, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
	cmd.Stderr = nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail("%s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				fail("%s: %v", bin, err)
			}
			return sample{wall: time.Since(start), rssMB: float64(peak) / (1 << 20)}
		case <-tick.C:
			if rss := treeRSS(cmd.Process.Pid); rss > peak {
				peak = rss
			}
		}
	}
}

// treeRSS adds up the resident set sizes (bytes) of pid and all its descendants, from /proc.
func treeRSS(pid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		fail("reading /proc: %v", err)
	}
	parent := map[int]int{}
	rss := map[int]int64{}
	page := int64(os.Getpagesize())
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		// Fields after the command name, which is in parentheses and may hold spaces: state ppid ...
		// rss is field 24 of the whole line, so field 22 after the name.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 22 {
			continue
		}
		parent[p], _ = strconv.Atoi(fields[1])
		pages, _ := strconv.ParseInt(fields[21], 10, 64)
		rss[p] = pages * page
	}
	var total int64
	for p, r := range rss {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				total += r
				break
			}
		}
	}
	return total
}

func median(s []sample) sample {
	sort.Slice(s, func(i, j int) bool { return s[i].wall < s[j].wall })
	m := s[len(s)/2]
	for _, x := range s {
		if x.rssMB > m.rssMB {
			m.rssMB = x.rssMB // report the worst peak, the median time
		}
	}
	return m
}

func main() {
	dir, err := os.MkdirTemp("", "benchsynth-bin-")
	if err != nil {
		fail("temp dir: %v", err)
	}
	defer os.RemoveAll(dir)
	whole, base := filepath.Join(dir, "whole"), filepath.Join(dir, "baseline")
	fmt.Fprintln(os.Stderr, "building both apps ...")
	build("./cdk", whole)
	build("./cdk/baseline", base)
	results := map[string][]sample{}
	// Warm synth, as a developer's repeated `cdk synth` runs it: one warm-up each fills the Go build
	// cache, node's module cache and the app's cloud assembly (whose handler bundles are reused while
	// the Go sources are unchanged). Then alternate the apps so machine noise hits both alike.
	outs := map[string]string{}
	for _, app := range []string{whole, base} {
		outs[app] = filepath.Join(dir, filepath.Base(app)+".out")
		cold := synth(app, outs[app])
		fmt.Fprintf(os.Stderr, "warm-up %-8s %6.1fs %6.0f MB\n", filepath.Base(app), cold.wall.Seconds(), cold.rssMB)
	}
	for i := 0; i < runs; i++ {
		for _, app := range []string{base, whole} {
			s := synth(app, outs[app])
			results[app] = append(results[app], s)
			fmt.Fprintf(os.Stderr, "run %d %-8s %6.1fs %6.0f MB\n", i+1, filepath.Base(app), s.wall.Seconds(), s.rssMB)
		}
	}
	w, b := median(results[whole]), median(results[base])
	ratio := w.wall.Seconds() / b.wall.Seconds()
	fmt.Printf("%-24s %10s %12s\n", "app", "synth (s)", "peak RSS MB (all its processes)")
	fmt.Printf("%-24s %10.1f %12.0f\n", "one stack (baseline)", b.wall.Seconds(), b.rssMB)
	fmt.Printf("%-24s %10.1f %12.0f\n", "whole app (all stacks)", w.wall.Seconds(), w.rssMB)
	fmt.Printf("time ratio whole/baseline: %.2fx (goal <= 1.5x: %s)\n", ratio, verdict(ratio <= 1.5))
	fmt.Printf("whole app peak RSS: %.0f MB (goal <= 800 MB: %s)\n", w.rssMB, verdict(w.rssMB <= 800))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
