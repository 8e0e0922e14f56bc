package aws

import (
	"context"
	"encoding/json"
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
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
)

// sfnFake is a fake of the Step Functions API (JSON 1.0, X-Amz-Target AWSStepFunctions.*): it
// checks StartExecution's documented shape (stateMachineArn, name, input) and "runs" the pre-stage
// state machine with prestage.Run, the code its workers run; DescribeExecution answers SUCCEEDED.
type sfnFake struct {
	mu      sync.Mutex
	started []map[string]string
	run     func(key string) error
	srv     *httptest.Server
}

func newSFNFake(t *testing.T, run func(key string) error) *sfnFake {
	f := &sfnFake{run: run}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]string
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "AWSStepFunctions.StartExecution":
			if in["stateMachineArn"] == "" || in["name"] == "" || in["input"] == "" {
				http.Error(w, `{"__type":"ValidationException","message":"missing fields"}`, http.StatusBadRequest)
				return
			}
			var input map[string]string
			if err := json.Unmarshal([]byte(in["input"]), &input); err != nil || input["key"] == "" {
				http.Error(w, `{"__type":"InvalidExecutionInput","message":"bad input"}`, http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.started = append(f.started, in)
			f.mu.Unlock()
			if err := f.run(input["key"]); err != nil {
				t.Errorf("the engine's pre-stage failed: %v", err)
			}
			fmt.Fprintf(w, `{"executionArn":%q,"startDate":%d}`, strings.Replace(in["stateMachineArn"], ":stateMachine:", ":execution:", 1)+":"+in["name"], time.Now().Unix())
		case "AWSStepFunctions.DescribeExecution":
			fmt.Fprintf(w, `{"executionArn":%q,"stateMachineArn":"x","status":"SUCCEEDED","startDate":%d}`, in["executionArn"], time.Now().Unix())
		default:
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// TestTheRestoreStepActivatesAStagedCopyOrLoadsOnTheEngine: a backup the standby has not staged is
// loaded by the restore engine in the target region (its pre-stage state machine), then activated;
// one it has staged is only activated; the plan says which path and how long.
func TestTheRestoreStepActivatesAStagedCopyOrLoadsOnTheEngine(t *testing.T) {
	ctx := context.Background()
	w := newRestoreWorld(t)
	src := w.db.Client().Database("enginesource")
	seedPatients(t, src, "t1", "Ada", "Grace", "Edsger")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "enginesource", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The engine stages what it is given, as its workers do.
	engineRun := func(key string) error {
		id := strings.TrimSuffix(strings.TrimPrefix(key, backup.BackupPrefix), "/manifest.json")
		_, err := prestage.Run(ctx, prestage.Options{Target: w.db.Client(), Store: w.replica, KMS: w.kms, AllowedKeys: []string{w.keyARN},
			Erasures: erasure.BucketsRegister(nil, w.replica, w.own), Region: "eu-central-1", Source: "eu-west-1", BackupID: id, Settle: time.Millisecond})
		return err
	}
	fake := newSFNFake(t, engineRun)
	arn := "arn:aws:states:eu-central-1:123456789012:stateMachine:Prestage"
	// (the provider's own wiring: the engine is the target's state machine, run through the target
	// region's Step Functions client)
	settings := &RestoreSettings{TargetMongoURI: w.uri, Settle: time.Millisecond, LedgerKeyProblem: "no key pinned in this test"}
	clients := *w.clients
	clients.StepFunctions = sfn.NewFromConfig(localstack.AWSConfig("eu-central-1", fake.srv.URL))
	w.clients = &clients
	r := Restores{Settings: settings}
	outs := map[string]string{}
	for k, v := range w.outs {
		outs[k] = v
	}
	outs[OutputPrestageStateMachineArn] = arn
	b := failover.BackupRef{ID: m.BackupID, Records: m.Documents, TakenAt: m.CreatedAt}

	// GIVEN nothing staged, THEN the plan says cold, on the engine, with the engine's estimate
	action, secs, err := r.PlanRestore(ctx, outs, b)
	if err != nil || !strings.HasPrefix(action, "cold path") || !strings.Contains(action, "restore engine") || secs != restore.EstimateSeconds(restore.Choice{Path: restore.PathCold}, m.Documents, true) {
		t.Fatalf("plan: %q %v %v", action, secs, err)
	}
	// WHEN the step runs
	inv, _ := r.TargetInventory(ctx)
	plan := &failover.Plan{ID: "p-cold", From: "eu-west-1", To: "eu-central-1", Backup: b, Settings: map[string]string{restore.SettingTargetInventory: inv.Setting()}}
	msg, err := r.Restore(ctx, w.clients, outs, plan, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	// THEN the engine was started once for the plan's backup, and the step activated what it staged
	if len(fake.started) != 1 || fake.started[0]["stateMachineArn"] != arn || !strings.Contains(fake.started[0]["input"], m.BackupID) {
		t.Fatalf("engine executions: %+v", fake.started)
	}
	if !strings.HasPrefix(msg, "cold path") {
		t.Fatalf("step says %q", msg)
	}
	if done, err := r.Restored(ctx, w.clients, outs, plan); err != nil || !done {
		t.Fatalf("Check after the step: %v %v", done, err)
	}
	if d := dumpDB(t, w.db); !strings.Contains(d, `"Edsger"`) {
		t.Fatalf("restored data: %s", d)
	}

	// GIVEN the next backup, staged by the standby before the failover
	m2, err := backup.Create(ctx, backup.CreateOptions{Source: w.db.Client(), Database: "enginesource", Store: w.replica, KMS: w.kms, KeyID: w.keyARN, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	// (the database is live after the first failover: a standby again once the region fails back;
	// here the test stages into a fresh standby database)
	settings.Database = "standby2"
	w.db = w.db.Client().Database("standby2")
	if _, err := prestage.Run(ctx, prestage.Options{Target: w.db.Client(), Database: "standby2", Store: w.replica, KMS: w.kms, AllowedKeys: []string{w.keyARN},
		Erasures: erasure.BucketsRegister(nil, w.replica, w.own), Region: "eu-central-1", Source: "eu-west-1", BackupID: m2.BackupID, Settle: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	b2 := failover.BackupRef{ID: m2.BackupID, Records: m2.Documents, TakenAt: m2.CreatedAt}
	action, secs, err = r.PlanRestore(ctx, outs, b2)
	if err != nil || !strings.HasPrefix(action, "staged path") || secs != restore.ActivateSeconds {
		t.Fatalf("plan of a staged backup: %q %v %v", action, secs, err)
	}
	inv, _ = r.TargetInventory(ctx)
	plan2 := &failover.Plan{ID: "p-staged", From: "eu-west-1", To: "eu-central-1", Backup: b2, Settings: map[string]string{restore.SettingTargetInventory: inv.Setting()}}
	msg, err = r.Restore(ctx, w.clients, outs, plan2, func(string, ...any) {})
	// THEN it only activates it: the engine is not started again
	if err != nil || !strings.HasPrefix(msg, "staged path") || len(fake.started) != 1 {
		t.Fatalf("step %q, %v; engine executions %d", msg, err, len(fake.started))
	}
	if done, _ := r.Restored(ctx, w.clients, outs, plan2); !done {
		t.Fatal("Check after the activation")
	}
	// AND the RPO line names the backup's age and the schedule
	if rpo := r.RPO(b2, m2.CreatedAt.Add(90*time.Minute)); !strings.Contains(rpo, "1h30m0s old") || !strings.Contains(rpo, "every 6h0m0s") {
		t.Fatalf("RPO: %s", rpo)
	}
}
