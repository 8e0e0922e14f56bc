// Command benchdrill is `make bench-drill`: the local failover drill (caro failover drill) at each
// record count, once with the standby's pre-stage (the staged path) and once without (--cold),
// printing per run the RTO, the restore step's path, time and records/s, the engine's overhead and
// the peak memory of caro's own processes apart from the servers', then the goals: RTO <= 60 s for
// 50,000 records, the cold restore linear in N (records/s at the largest N at least 80 % of the
// smallest's), engine overhead <= 2 %.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/carohealth/platform/internal/providers/local"
)

func main() {
	caro := flag.String("caro", "caro", "the caro binary")
	records := flag.String("records", "50000,1000000", "record counts, comma-separated")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*records, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "benchdrill: -records %q: give positive counts\n", *records)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	type run struct {
		n    int
		cold bool
		rep  local.DrillReport
	}
	var runs []run
	failed := false
	for _, n := range counts {
		for _, cold := range []bool{false, true} {
			args := []string{"failover", "drill", "--records", strconv.Itoa(n), "-o", "json"}
			if cold {
				args = append(args, "--cold")
			}
			fmt.Fprintf(os.Stderr, "benchdrill: caro %s\n", strings.Join(args, " "))
			var out, errOut bytes.Buffer
			cmd := exec.Command(*caro, args...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			runErr := cmd.Run()
			var rep local.DrillReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				fmt.Fprintf(os.Stderr, "benchdrill: %v (%v)\n%s\n", runErr, err, tail(errOut.String()))
				os.Exit(1)
			}
			if !rep.OK {
				failed = true
				fmt.Fprintf(os.Stderr, "benchdrill: the drill of %d records failed: %s\n", n, strings.Join(rep.Problems, "; "))
			}
			runs = append(runs, run{n, cold, rep})
		}
	}
	fmt.Printf("\nbench-drill: a failover between two local regions (FerretDB v1.24.0 on SQLite each), from the primary's death\n")
	fmt.Printf("  %9s  %-6s %8s %9s %11s %9s %15s %16s  %s\n", "records", "path", "RTO", "restore", "records/s", "engine", "caro peak RSS", "servers peak RSS", "pre-stage (before the disaster)")
	for _, r := range runs {
		p := r.rep
		pre := "-"
		if p.Prestage != nil {
			pre = fmt.Sprintf("%.1f s, %d documents verified", p.Prestage.Seconds, p.Prestage.Documents)
		}
		fmt.Printf("  %9d  %-6s %6.1f s %7.1f s %11.0f %7.2f %% %12.0f MB %13.0f MB  %s\n", r.n, p.RestorePath, p.RTOSeconds, p.RestoreSeconds, p.RestoreRecordsPerSecond,
			p.EngineOverheadPercent, maxOf(p.CaroPeakRSSMB), sumOf(p.ServerPeakRSSMB), pre)
	}
	fmt.Println("  caro peak RSS is the largest of caro's processes (the drill itself with its seed, backup and pre-stage; plan; apply; the regions' APIs); servers are FerretDB and local-kms of both regions, summed.")
	for _, r := range runs {
		fmt.Printf("  %d records, %s: caro %s\n", r.n, r.rep.RestorePath, list(r.rep.CaroPeakRSSMB))
	}
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		failed = true
		return "MISSED"
	}
	for _, r := range runs {
		if r.n == 50000 {
			fmt.Printf("  RTO at 50,000 records, %s path: %.1f s (goal <= 60 s): %s\n", r.rep.RestorePath, r.rep.RTOSeconds, verdict(r.rep.RTOSeconds <= 60))
		}
		fmt.Printf("  engine overhead at %d records, %s path: %.2f %% (goal <= 2 %%): %s\n", r.n, r.rep.RestorePath, r.rep.EngineOverheadPercent, verdict(r.rep.EngineOverheadPercent <= 2))
	}
	var cold []run
	for _, r := range runs {
		if r.cold {
			cold = append(cold, r)
		}
	}
	if len(cold) > 1 {
		first, last := cold[0], cold[len(cold)-1]
		ratio := last.rep.RestoreRecordsPerSecond / first.rep.RestoreRecordsPerSecond
		fmt.Printf("  cold restore %d -> %d records: %.0f -> %.0f records/s (%.2fx; linear when >= 0.8x): %s\n", first.n, last.n,
			first.rep.RestoreRecordsPerSecond, last.rep.RestoreRecordsPerSecond, ratio, verdict(ratio >= 0.8))
	}
	if failed {
		os.Exit(1)
	}
}

func maxOf(m map[string]float64) float64 {
	v := 0.0
	for _, x := range m {
		v = max(v, x)
	}
	return v
}

func sumOf(m map[string]float64) float64 {
	v := 0.0
	for _, x := range m {
		v += x
	}
	return v
}

func list(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f MB", n, m[n]))
	}
	return strings.Join(parts, ", ")
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
