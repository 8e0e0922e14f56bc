package erasure

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/objstore"
)

const (
	pidA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	pidB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestRegisterRecordAndList(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	reg := NewRegister(store)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// GIVEN two erasures in two tenants, one recorded twice (a retried request)
	for _, e := range []Erasure{
		{TenantID: "t-two", PatientID: pidB, ErasedAt: t0.Add(time.Hour), RequestID: "r2"},
		{TenantID: "t-one", PatientID: pidA, ErasedAt: t0, RequestID: "r1"},
		{TenantID: "t-one", PatientID: pidA, ErasedAt: t0, RequestID: "r1"},
	} {
		if err := reg.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN listing all, and since a time
	all, err := reg.List(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// THEN each subject appears once, in tenant order, with only IDs, time and request ID
	if len(all) != 2 || all[0].TenantID != "t-one" || all[0].PatientID != pidA || all[0].RequestID != "r1" ||
		!all[0].ErasedAt.Equal(t0) || all[1].TenantID != "t-two" || all[0].Format != Format {
		t.Fatalf("list %+v", all)
	}
	rc, err := store.Get(ctx, Key("t-one", pidA))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(rc)
	rc.Close()
	if got := buf.String(); got != `{"format":"caro-erasure/v1","tenantId":"t-one","patientId":"`+pidA+`","erasedAt":"2026-11-01T10:00:00Z","requestId":"r1"}` {
		t.Fatalf("object %s", got)
	}
	later, err := reg.List(ctx, t0.Add(time.Minute))
	if err != nil || len(later) != 1 || later[0].TenantID != "t-two" {
		t.Fatalf("since: %+v %v", later, err)
	}
}

func TestRegisterRefusesBadIDs(t *testing.T) {
	reg := NewRegister(newStore(t))
	for _, e := range []Erasure{
		{TenantID: "../x", PatientID: pidA, ErasedAt: time.Now()},
		{TenantID: "t", PatientID: "not-hex", ErasedAt: time.Now()},
		{TenantID: "t", PatientID: pidA},
	} {
		if err := reg.Record(context.Background(), e); err == nil {
			t.Fatalf("recorded %+v", e)
		}
	}
}

// TestRegisterListRefusesDamage: a restore must never apply a partial register, so any object it
// cannot read, parse or match to its key fails the whole list.
func TestRegisterListRefusesDamage(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct{ key, body string }{
		"not json":      {Key("t", pidA), "{"},
		"other format":  {Key("t", pidA), `{"format":"x","tenantId":"t","patientId":"` + pidA + `","erasedAt":"2026-01-01T00:00:00Z"}`},
		"other subject": {Key("t", pidA), `{"format":"caro-erasure/v1","tenantId":"t","patientId":"` + pidB + `","erasedAt":"2026-01-01T00:00:00Z"}`},
		"too large":     {Key("t", pidA), strings.Repeat(" ", maxObjectBytes+1)},
	} {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			reg := NewRegister(store)
			if err := reg.Record(ctx, Erasure{TenantID: "t", PatientID: pidB, ErasedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := store.Put(ctx, tc.key, strings.NewReader(tc.body), int64(len(tc.body))); err != nil {
				t.Fatal(err)
			}
			if l, err := reg.List(ctx, time.Time{}); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("list of a damaged register: %v %v", l, err)
			}
		})
	}
}

// failingStore is an object store that cannot be reached.
type failingStore struct{ objstore.Store }

var errUnreachable = errors.New("s3 unreachable")

func (failingStore) List(context.Context, string) ([]objstore.Info, error) {
	return nil, errUnreachable
}

func TestRegisterListUnreachable(t *testing.T) {
	if _, err := NewRegister(failingStore{}).List(context.Background(), time.Time{}); !errors.Is(err, errUnreachable) {
		t.Fatalf("got %v", err)
	}
}
