package ledgertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
)

// AppendOnDays appends perDay events on each of days (their event times), running the env's
// checkpointer (a checkpoint every interval entries) and a Sealer after each append with the clock
// at that day, as the audit writer does over the years; it returns the seals written.
func (e *Env) AppendOnDays(tb testing.TB, days []time.Time, perDay int, interval uint64) []*ledger.Seal {
	tb.Helper()
	ctx := context.Background()
	var now time.Time
	clock := func() time.Time { return now }
	cpr := e.Checkpointer(interval)
	cpr.Now = clock
	sealer := &ledger.Sealer{Records: e.Store, Seals: e.Bucket, Signer: e.Signer, Now: clock}
	l := &ledger.Ledger{Store: e.Store}
	var seals []*ledger.Seal
	n := 0
	for _, day := range days {
		now = day.UTC()
		for range perDay {
			n++
			ev := audit.Event{ID: audit.NewEventID(), Time: now, Actor: "sub-1", TenantID: "tenant-a", Action: "patient:write",
				ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", n), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", n),
				AfterHash: fmt.Sprintf("%064x", n)}
			if _, _, err := l.Append(ctx, ev); err != nil {
				tb.Fatal(err)
			}
			if _, err := cpr.Run(ctx); err != nil {
				tb.Fatal(err)
			}
			s, err := sealer.Run(ctx)
			if err != nil {
				tb.Fatal(err)
			}
			seals = append(seals, s...)
		}
	}
	return seals
}
