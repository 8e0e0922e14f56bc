package erasure

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/audit/audittest"
	"github.com/carohealth/platform/internal/ledger"
)

// testOrigin is the operator of the tests' re-applications.
var testOrigin = audit.Origin{Actor: "arn:aws:iam::111122223333:user/oncall", Interface: audit.InterfaceCLI, RequestID: audit.NewEventID()}

func TestReapplyWritesOneEraseEventPerPatientErased(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	reg := NewRegister(newStore(t))
	// GIVEN three registered erasures of patients that still hold personal data (a database brought
	// back to before they were erased), and one of a patient the database never had
	pids := []string{pidA, pidB, "cccccccccccccccccccccccccccccccc"}
	names := []string{"Ada", "Grace", "Hedy"}
	for i, pid := range pids {
		seed(t, db, Live(), "t1", pid, names[i])
		if err := reg.Record(ctx, Erasure{TenantID: "t1", PatientID: pid, ErasedAt: time.Now(), RequestID: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Record(ctx, Erasure{TenantID: "t9", PatientID: pidA, ErasedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// WHEN the operator re-applies the register
	s, err := Reapply(ctx, ReapplyOptions{Source: reg, DB: db, Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	// THEN exactly three subject:erase events are pending, one in each patient's tombstone
	evs := audittest.PendingEvents(t, db, PatientsCollection)
	if len(evs) != 3 || s.AuditEvents != 3 || len(s.Events) != 3 || s.Patients != 3 {
		t.Fatalf("events %d, summary %+v", len(evs), s)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := ledger.CheckNoPersonalData(ev); err != nil {
			t.Fatal(err)
		}
		if ev.Action != "subject:erase" || ev.ResourceType != "patient" || ev.TenantID != "t1" || ev.Interface != audit.InterfaceCLI ||
			ev.Actor != testOrigin.Actor || ev.RequestID != testOrigin.RequestID || ev.SubjectRef == "" || ev.BeforeHash == "" || ev.AfterHash == "" {
			t.Fatalf("event %+v", ev)
		}
		seen[ev.ResourceID] = true
	}
	for _, pid := range pids {
		if !seen[pid] {
			t.Fatalf("no event for %s", pid)
		}
	}
	// AND no event holds personal data
	j, _ := json.Marshal(evs)
	for _, n := range names {
		if strings.Contains(string(j), n) || strings.Contains(string(j), "1990-12-10") {
			t.Fatalf("personal data in events: %s", j)
		}
	}
	// AND re-running (the idempotency rule: only a patient still holding data gets an event) adds none
	s2, err := Reapply(ctx, ReapplyOptions{Source: reg, DB: db, Origin: audit.Origin{Actor: "os-user:other", Interface: audit.InterfaceJob, RequestID: audit.NewEventID()}})
	if err != nil || s2.AuditEvents != 0 || s2.Patients != 0 {
		t.Fatalf("re-run: %+v %v", s2, err)
	}
	if n := len(audittest.PendingEvents(t, db, PatientsCollection)); n != 3 {
		t.Fatalf("re-run left %d pending events, want 3", n)
	}
	// WHEN an inline publish fails
	sns := audittest.NewSNSFake(t)
	sns.SetFailing(true)
	if n, err := audit.DeliverWritten(ctx, sns.Publisher(), db, s.Events); err == nil || n != 0 {
		t.Fatalf("failing publish: %d %v", n, err)
	}
	// THEN the events stay pending
	if n := len(audittest.PendingEvents(t, db, PatientsCollection)); n != 3 {
		t.Fatalf("%d pending after a failed publish, want 3", n)
	}
	// AND the reconciler publishes each exactly once, then purges the drained tombstones
	sns.SetFailing(false)
	rec := &audit.Reconciler{DB: db, Publisher: sns.Publisher(), Collections: []string{PatientsCollection}}
	for range 2 {
		if _, err := rec.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := sns.Events(); len(got) != 3 {
		t.Fatalf("published %d events, want 3", len(got))
	}
	if n := len(audittest.PendingEvents(t, db, PatientsCollection)); n != 0 {
		t.Fatalf("%d still pending", n)
	}
}

func TestReapplyRefusesWithoutOrigin(t *testing.T) {
	db := newDB(t)
	seed(t, db, Live(), "t1", pidA, "Ada")
	_, err := Reapply(context.Background(), ReapplyOptions{Source: Listed{{TenantID: "t1", PatientID: pidA, ErasedAt: time.Now()}}, DB: db})
	if err == nil || !strings.Contains(err.Error(), "actor") {
		t.Fatalf("err %v", err)
	}
	if all := dump(t, db, Live()); !strings.Contains(all, "Ada") {
		t.Fatal("erased without an audit origin")
	}
}
