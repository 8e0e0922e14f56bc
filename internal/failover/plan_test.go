package failover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPlanFileRoundTripAndEditDetection(t *testing.T) {
	p := testPlan(t)
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := WritePlan(path, p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(time.Now(), true); err != nil {
		t.Fatalf("round-tripped plan invalid: %v", err)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"to": "b"`, `"to": "x"`, 1)), 0o600)
	edited, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := edited.Validate(time.Now(), true); !errors.Is(err, ErrPlanEdited) {
		t.Fatalf("edited plan: %v", err)
	}
	os.WriteFile(path, []byte(`{"version":1,"surprise":true}`), 0o600)
	if _, err := ReadPlan(path); err == nil || !strings.Contains(err.Error(), "caro failover plan") {
		t.Fatalf("foreign file: %v", err)
	}
	p.Version = 99
	p.Seal()
	if err := p.Validate(time.Now(), true); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("future version: %v", err)
	}
}

type fakeProvider struct{ s Survey }

func (f *fakeProvider) Name() string { return "fake" }
func (f *fakeProvider) Survey(context.Context, Request) (*Survey, error) {
	s := f.s
	return &s, nil
}
func (f *fakeProvider) Steps(context.Context, *Plan) ([]Step, error) { return nil, nil }

func TestMakePlan(t *testing.T) {
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	prov := &fakeProvider{Survey{
		TargetHealthy: true, SourceHealthy: false, SourceDetail: "down",
		Backup: BackupRef{ID: "b1", TakenAt: now.Add(-10 * time.Minute)},
		Steps:  []PlannedStep{{Name: "preflight", ExpectedSeconds: 2}, {Name: "restore", ExpectedSeconds: 30}},
	}}
	p, err := MakePlan(context.Background(), prov, Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "backup"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindFailover || p.Backup.AgeSeconds != 600 || p.ExpectedSeconds != 32 || p.Validate(now, true) != nil {
		t.Fatalf("plan = %+v", p)
	}
	// Failback towards an unhealthy old primary is refused.
	prov.s.TargetHealthy, prov.s.TargetDetail = false, "KMS unreachable"
	_, err = MakePlan(context.Background(), prov, Request{From: "eu-central-1", To: "eu-west-1", Primary: "eu-west-1"}, now)
	if !errors.Is(err, ErrTargetUnhealthy) || !strings.Contains(err.Error(), "failback") || !strings.Contains(err.Error(), "KMS unreachable") {
		t.Fatalf("failback to unhealthy primary: %v", err)
	}
	if _, err := MakePlan(context.Background(), prov, Request{From: "a", To: "a"}, now); err == nil {
		t.Fatal("same from/to accepted")
	}
}

func TestJournalIgnoresTornTail(t *testing.T) {
	dir := t.TempDir()
	j, _ := NewFileJournal(dir, "p")
	ctx := context.Background()
	j.Append(ctx, Record{Event: ApplyStarted, PlanID: "p"})
	f, _ := os.OpenFile(j.Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"event":"step-comp`) // a kill -9 mid-write
	f.Close()
	recs, err := j.Records(ctx)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records = %v, %v", recs, err)
	}
	if err := j.Append(ctx, Record{Event: StepStarted, Step: "x", PlanID: "p"}); err != nil {
		t.Fatal(err)
	}
	recs, err = j.Records(ctx)
	if err != nil || len(recs) != 2 || recs[1].Step != "x" {
		t.Fatalf("after repair: %v, %v", recs, err)
	}
	latest, _ := LatestJournal(dir)
	if latest != j.Path {
		t.Fatalf("latest = %q", latest)
	}
}
