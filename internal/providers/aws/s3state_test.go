package aws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
)

func newS3(t *testing.T) *s3.Client {
	srv := localstack.StartS3ForTest(t, "caro-failover-eu-central-1")
	return s3.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
}

func TestS3JournalAppendsInOrderAndSurvivesANewWriter(t *testing.T) {
	c := newS3(t)
	ctx := context.Background()
	j := &S3Journal{Client: c, Bucket: "caro-failover-eu-central-1", PlanID: "p1"}
	for i, ev := range []failover.Event{failover.ApplyStarted, failover.StepStarted, failover.StepCompleted} {
		if err := j.Append(ctx, failover.Record{Event: ev, Step: "deploy", Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	// A second process (the resumed apply) continues the same journal.
	j2 := &S3Journal{Client: c, Bucket: "caro-failover-eu-central-1", PlanID: "p1"}
	if err := j2.Append(ctx, failover.Record{Event: failover.ApplyCompleted}); err != nil {
		t.Fatal(err)
	}
	// The first writer's cached sequence number is now taken: the conditional write refuses to
	// overwrite record 3, and the writer re-lists and appends after it.
	if err := j.Append(ctx, failover.Record{Event: failover.ApplyResumed}); err != nil {
		t.Fatal(err)
	}
	recs, err := j2.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Event))
	}
	if strings.Join(got, ",") != "apply-started,step-started,step-completed,apply-completed,apply-resumed" {
		t.Fatalf("records %v", got)
	}
}

func TestS3LockRefusesSecondHolderAndBreaks(t *testing.T) {
	c := newS3(t)
	ctx := context.Background()
	l := &S3Lock{Client: c, Bucket: "caro-failover-eu-central-1"}
	me := failover.LockInfo{Owner: "alice", Host: "laptop-a", PID: 42, Started: time.Now().UTC().Truncate(time.Second), PlanID: "p1"}
	if err := l.Acquire(ctx, me); err != nil {
		t.Fatal(err)
	}
	other := failover.LockInfo{Owner: "bob", Host: "laptop-b", PID: 7, Started: time.Now().UTC()}
	err := l.Acquire(ctx, other)
	var le *failover.LockedError
	if !errors.As(err, &le) || le.Holder.Owner != "alice" || !strings.Contains(err.Error(), failover.UnlockHint) || !strings.Contains(err.Error(), "laptop-a") {
		t.Fatalf("second acquire: %v", err)
	}
	// Bob's release does not remove Alice's lock.
	l.Release(ctx, other)
	if h, _ := l.Holder(ctx); h == nil || h.Owner != "alice" {
		t.Fatalf("holder after foreign release %v", h)
	}
	// Alice's laptop is lost: an operator breaks the lock.
	if h, err := l.Break(ctx); err != nil || h.Owner != "alice" {
		t.Fatalf("break: %v %v", h, err)
	}
	if err := l.Acquire(ctx, other); err != nil {
		t.Fatal(err)
	}
}

// The engine runs unchanged with the S3 journal and lock.
func TestEngineWithS3JournalAndLock(t *testing.T) {
	c := newS3(t)
	ctx := context.Background()
	now := time.Now()
	p := &failover.Plan{Version: failover.PlanVersion, ID: "p2", Kind: failover.KindFailover, Provider: "aws", From: "eu-west-1", To: "eu-central-1",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Steps: []failover.PlannedStep{{Name: "a"}, {Name: "b"}}}
	p.Seal()
	runs := map[string]int{}
	fail := true
	mk := func(name string) failover.Step {
		return &failover.StepFunc{StepName: name, RunFunc: func(context.Context) error {
			runs[name]++
			if name == "b" && fail {
				fail = false
				return errors.New("injected")
			}
			return nil
		}}
	}
	e := &failover.Engine{Journal: &S3Journal{Client: c, Bucket: "caro-failover-eu-central-1", PlanID: p.ID}, Lock: &S3Lock{Client: c, Bucket: "caro-failover-eu-central-1"}}
	if _, err := e.Apply(ctx, p, []failover.Step{mk("a"), mk("b")}); err == nil {
		t.Fatal("want failure")
	}
	e2 := &failover.Engine{Journal: &S3Journal{Client: c, Bucket: "caro-failover-eu-central-1", PlanID: p.ID}, Lock: &S3Lock{Client: c, Bucket: "caro-failover-eu-central-1"}}
	rep, err := e2.Apply(ctx, p, []failover.Step{mk("a"), mk("b")})
	if err != nil || !rep.OK || runs["a"] != 1 || runs["b"] != 2 {
		t.Fatalf("resume: %v %+v runs %v", err, rep, runs)
	}
}
