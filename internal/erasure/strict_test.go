package erasure

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRegisterListRefusesOtherSpellings: a register object is read only in the form Record writes
// it. A field in another letter case or given twice (encoding/json kept the last copy: a second
// "ErasedAt" moved the erasure out of a restore's window, a second "SCOPE" made it another kind) is
// damage, and a damaged register is never applied in part.
func TestRegisterListRefusesOtherSpellings(t *testing.T) {
	ctx := context.Background()
	good := `{"format":"caro-erasure/v1","tenantId":"t","patientId":"` + pidA + `","erasedAt":"2026-01-01T00:00:00Z"}`
	for name, body := range map[string]string{
		"time twice":          strings.Replace(good, `"erasedAt"`, `"ErasedAt":"2020-01-01T00:00:00Z","erasedAt"`, 1),
		"time after, in case": strings.Replace(good, `}`, `,"ERASEDAT":"2020-01-01T00:00:00Z"}`, 1),
		"tenant capitalised":  strings.Replace(good, `"tenantId"`, `"TenantId"`, 1),
		"format twice":        strings.Replace(good, `"format":"caro-erasure/v1"`, `"format":"caro-erasure/v1","Format":"caro-erasure/v1"`, 1),
		"unknown field":       strings.Replace(good, `}`, `,"note":"x"}`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			if err := store.Put(ctx, Key("t", pidA), strings.NewReader(body), int64(len(body))); err != nil {
				t.Fatal(err)
			}
			l, err := NewRegister(store).List(ctx, time.Time{})
			if err == nil || !strings.Contains(err.Error(), Key("t", pidA)) || !strings.Contains(err.Error(), "not an erasure register entry") {
				t.Fatalf("list of a register with another spelling: %+v, %v", l, err)
			}
		})
	}
	store := newStore(t)
	if err := store.Put(ctx, Key("t", pidA), strings.NewReader(good), int64(len(good))); err != nil {
		t.Fatal(err)
	}
	if l, err := NewRegister(store).List(ctx, time.Time{}); err != nil || len(l) != 1 {
		t.Fatalf("the form Record writes: %+v, %v", l, err)
	}
}
