package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
)

// Benchmarks on FerretDB (make bench-ledger); not run by make test.

// BenchmarkAppend measures appends/s on FerretDB: one writer and 8 concurrent writers, each
// appending batches of 1000 events (the audit writer appends an SNS/SQS delivery as one batch),
// and each appending single events (Append; concurrent callers are group-committed). Writers share
// one Ledger, as the goroutines of one process do. Run with -benchtime Nx: N events per writer.
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name           string
		writers, batch int
	}{{"1writer-batch1000", 1, 1000}, {"8writers-batch1000", 8, 1000}, {"1writer-single", 1, 1}, {"8writers-single", 8, 1}} {
		b.Run(tc.name, func(b *testing.B) {
			env := servers.NewEnv(b)
			ctx := context.Background()
			l := &ledger.Ledger{Store: env.Store, MaxAttempts: 10000}
			events := make([][]audit.Event, tc.writers)
			for w := range events {
				for i := 0; i < b.N; i++ {
					events[w] = append(events[w], ledger.TestEvent(w*b.N+i, "t1"))
				}
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func(evs []audit.Event) {
					defer wg.Done()
					for len(evs) > 0 {
						n := min(tc.batch, len(evs))
						res, err := l.AppendBatch(ctx, evs[:n])
						if err != nil {
							b.Error(err)
							return
						}
						for _, r := range res {
							if r.Err != nil || !r.Created {
								b.Error(r.Err)
								return
							}
						}
						evs = evs[n:]
					}
				}(events[w])
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*tc.writers)/time.Since(start).Seconds(), "appends/s")
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
