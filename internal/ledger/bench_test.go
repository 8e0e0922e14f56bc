package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/ledger"
)

// Benchmarks on FerretDB (make bench-ledger); not run by make test.

func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 4} {
		b.Run(map[int]string{1: "1writer", 4: "4writers"}[writers], func(b *testing.B) {
			env := servers.NewEnv(b)
			ctx := context.Background()
			l := &ledger.Ledger{Store: env.Store, MaxAttempts: 10000}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, _, err := l.Append(ctx, ledger.TestEvent(w*per+i, "t1")); err != nil {
							b.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/time.Since(start).Seconds(), "appends/s")
		})
	}
}

// BenchmarkVerify prepares 5000 entries with 5 checkpoints and verifies them b.N times. Run it with
// -benchtime 1x: any other count runs the preparation twice (b.N=1 first).
func BenchmarkVerify(b *testing.B) {
	const entries = 5000
	ctx := context.Background()
	env := servers.NewEnv(b)
	l := &ledger.Ledger{Store: env.Store}
	start := time.Now()
	for i := 0; i < entries; i++ {
		if _, _, err := l.Append(ctx, ledger.TestEvent(i, "t1")); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("prepared %d entries in %v", entries, time.Since(start))
	cpr := env.Checkpointer(1000)
	cpr.MaxLeaves = 1000
	if _, err := cpr.Run(ctx); err != nil {
		b.Fatal(err)
	}
	v := env.Verifier(b)
	b.ResetTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := v.Verify(ctx, ledger.VerifyOptions{})
		if err != nil || !rep.OK || rep.EntriesVerified != entries || rep.CheckpointsVerified != 5 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(entries*b.N)/time.Since(start).Seconds(), "verified-entries/s")
}
