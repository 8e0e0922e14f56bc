package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/restore"
)

// scriptedSFN is a Step Functions fake whose DescribeExecution answers the statuses in turn (the
// last one from then on); it records the names StartExecution was given.
type scriptedSFN struct {
	mu       sync.Mutex
	names    []string
	statuses []string
}

func (f *scriptedSFN) client(t *testing.T) *sfn.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.Header.Get("X-Amz-Target") {
		case "AWSStepFunctions.StartExecution":
			f.names = append(f.names, in["name"])
			fmt.Fprintf(w, `{"executionArn":%q,"startDate":%d}`, "arn:aws:states:eu-central-1:123456789012:execution:Prestage:"+in["name"], time.Now().Unix())
		case "AWSStepFunctions.DescribeExecution":
			status := f.statuses[0]
			if len(f.statuses) > 1 {
				f.statuses = f.statuses[1:]
			}
			fmt.Fprintf(w, `{"executionArn":%q,"stateMachineArn":"x","status":%q,"startDate":%d,"error":"States.TaskFailed","cause":"chunk 3 did not decrypt"}`, in["executionArn"], status, time.Now().Unix())
		default:
			t.Errorf("unexpected Step Functions call %s", r.Header.Get("X-Amz-Target"))
		}
	}))
	t.Cleanup(srv.Close)
	return sfn.NewFromConfig(localstack.AWSConfig("eu-central-1", srv.URL))
}

// TestTheRestoreEngineFollowsItsExecutionToTheEnd: Load names the execution after the backup unless
// told a name (a resumed step then finds its own), polls while it runs and returns once it
// succeeded; an execution that fails fails the step with Step Functions' error and cause.
func TestTheRestoreEngineFollowsItsExecutionToTheEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const arn = "arn:aws:states:eu-central-1:123456789012:stateMachine:Prestage"
	f := &scriptedSFN{statuses: []string{"RUNNING", "RUNNING", "SUCCEEDED"}}
	e := &StateMachineEngine{Client: f.client(t), StateMachineArn: arn, Poll: time.Millisecond}
	var lines []string
	progress := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	if err := e.Load(ctx, "20261123T020000Z-ab", progress); err != nil {
		t.Fatal(err)
	}
	if len(f.names) != 1 || f.names[0] != "failover-20261123T020000Z-ab" || !strings.Contains(strings.Join(lines, "\n"), "staged backup 20261123T020000Z-ab") {
		t.Fatalf("executions %v, progress %q", f.names, lines)
	}
	f.statuses = []string{"RUNNING", "FAILED"}
	e.Name = "failover-p7-20261123T020000Z-ab"
	err := e.Load(ctx, "20261123T020000Z-ab", progress)
	if err == nil || !strings.Contains(err.Error(), "ended FAILED: States.TaskFailed: chunk 3 did not decrypt") {
		t.Fatalf("failed execution: %v", err)
	}
	if f.names[1] != e.Name {
		t.Fatalf("execution named %q, want %q", f.names[1], e.Name)
	}
}

// TestTheRestoreEnginePollsEvery10SecondsByDefault: without Poll the engine's execution is asked
// for every 10 s; Poll replaces it.
func TestTheRestoreEnginePollsEvery10SecondsByDefault(t *testing.T) {
	e := &StateMachineEngine{}
	if e.pollInterval() != 10*time.Second {
		t.Fatalf("default poll %s", e.pollInterval())
	}
	e.Poll = time.Millisecond
	if e.pollInterval() != time.Millisecond {
		t.Fatalf("poll %s", e.pollInterval())
	}
}

// TestTheEngineRestoreRefusesATargetChangedSincePlanning: on the cold path the target is compared
// with the plan's listing before the engine replaces it: data written there since the plan is
// never moved aside without the operator's word, and the engine is not started.
func TestTheEngineRestoreRefusesATargetChangedSincePlanning(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	src := w.db.Client().Database("changedsource")
	seedPatients(t, src, "t1", "Ada")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "changedsource", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	fake := newSFNFake(t, func(string) error { return errors.New("the engine was started") })
	clients := *w.clients
	clients.StepFunctions = sfn.NewFromConfig(localstack.AWSConfig("eu-central-1", fake.srv.URL))
	w.clients = &clients
	r := Restores{Settings: &RestoreSettings{TargetMongoURI: w.uri, Settle: time.Millisecond, LedgerKeyProblem: "no key pinned in this test"}}
	outs := map[string]string{OutputPrestageStateMachineArn: "arn:aws:states:eu-central-1:123456789012:stateMachine:Prestage"}
	for k, v := range w.outs {
		outs[k] = v
	}
	inv, err := r.TargetInventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := &failover.Plan{ID: "p-changed", From: "eu-west-1", To: "eu-central-1", Backup: failover.BackupRef{ID: m.BackupID, Records: m.Documents, TakenAt: m.CreatedAt},
		Settings: map[string]string{restore.SettingTargetInventory: inv.Setting()}}
	// WHEN someone writes to the target after the plan
	seedPatients(t, w.db, "t9", "Written after the plan")
	_, err = r.Restore(ctx, w.clients, outs, plan, func(string, ...any) {})
	// THEN the step refuses, and the engine never ran
	if !errors.Is(err, restore.ErrTargetChanged) {
		t.Fatalf("restore of a changed target: %v", err)
	}
	if len(fake.started) != 0 {
		t.Fatalf("the engine was started %d time(s)", len(fake.started))
	}
}
