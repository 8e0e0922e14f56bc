package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/maintenance"
)

// TestARestoreRefusesABackupUnderAnotherKey (issue 17 item 4): a backup someone wrote into the
// bucket with their own KMS key is refused, naming the key, whatever else is given; the target is
// untouched.
func TestARestoreRefusesABackupUnderAnotherKey(t *testing.T) {
	ctx := context.Background()
	// GIVEN an attacker's backup (their own KMS key, same bucket) and a target with data
	src := newDB("attacker")
	seed(t, src, 3)
	f := fixture{store: newBucket(t), kms: backup.NewAWSKMS(kmsClient), source: src}
	m, err := backup.Create(ctx, backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: otherKey, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	target := newDB("victim")
	seed(t, target, 8)
	before := snapshot(t, target)
	// WHEN it is restored, accepting the region's key and the peer's
	_, err = f.restore(target, func(o *testRestore) { o.Replace = true })
	// THEN it is refused, naming the attacker's key, and the target is as it was
	if !errors.Is(err, backup.ErrWrongKey) || !strings.Contains(err.Error(), otherKey) {
		t.Fatalf("err = %v", err)
	}
	sameSnapshot(t, snapshot(t, target), before)
	if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s != nil {
		t.Fatalf("maintenance switch on after a refused restore: %+v", s)
	}
}

// TestTheMaintenanceSwitchIsOnFromBeforeTheLoadUntilAfterTheMarker (issue 17 item 5).
func TestTheMaintenanceSwitchIsOnFromBeforeTheLoadUntilAfterTheMarker(t *testing.T) {
	ctx := context.Background()
	f := newBackup(t, 20)
	target := newDB("dstmaint")
	seed(t, target, 4)
	db := mongoC.Database(target)
	seen := map[string]*maintenance.State{}
	var markerAtSwitchOff *Marker
	settle := 400 * time.Millisecond
	start := time.Now()
	var inventoried time.Duration
	rep, err := f.restore(target, func(o *testRestore) {
		o.Replace = true
		o.Settle = settle
		o.fail = func(step string) error {
			s, _ := maintenance.Get(ctx, db)
			seen[step] = s
			switch step {
			case "erasures":
				inventoried = time.Since(start)
			case "maintenance-off":
				markerAtSwitchOff, _ = ReadMarker(ctx, db)
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"loaded", "erasures", "rename-existing:patients", "commit", "marker", "maintenance-off"} {
		if s := seen[step]; s == nil || s.Owner != fmt.Sprintf("restore %s (backup %s)", rep.Run, f.m.BackupID) {
			t.Fatalf("maintenance switch at %s: %+v", step, s)
		}
	}
	// AND the target was listed for the switch only after the switch had settled
	if inventoried < settle {
		t.Fatalf("listed %s after the start, before the %s settle", inventoried, settle)
	}
	// AND it went off only after the marker was written, and is off now
	if markerAtSwitchOff == nil || markerAtSwitchOff.BackupID != f.m.BackupID || markerAtSwitchOff.InProgress != nil {
		t.Fatalf("marker when the switch went off: %+v", markerAtSwitchOff)
	}
	if s, _ := maintenance.Get(ctx, db); s != nil {
		t.Fatalf("switch still on: %+v", s)
	}
}

// TestARestoreUnderLiveWritesKeepsEverythingWritten (issue 17 item 5): writers that honour the
// maintenance switch (as the API does: a Gate read at most every GateTTL) write all the time; the
// restore succeeds, and every document they wrote is kept aside with the replaced collection and
// listed in the report, none dropped.
func TestARestoreUnderLiveWritesKeepsEverythingWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the maintenance switch to settle")
	}
	ctx := context.Background()
	f := newBackup(t, 30)
	target := newDB("dstlive")
	seed(t, target, 10)
	db := mongoC.Database(target)
	gate := &maintenance.Gate{DB: db}
	var written, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(3 * time.Millisecond):
				}
				if s, err := gate.Current(ctx); err != nil || s != nil {
					refused.Add(1) // 503 Retry-After
					continue
				}
				if _, err := db.Collection("patients").InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("w%d-%05d", w, i)}, {Key: "tenantId", Value: "t1"}, {Key: "mrn", Value: 100000 + 1000*w + i}}); err == nil {
					written.Add(1)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	rep, err := f.restore(target, func(o *testRestore) { o.Replace = true; o.Settle = maintenance.Settle - 9*time.Second })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("restore under writes: %v", err)
	}
	if written.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("the writers wrote %d and were refused %d times: the test proves nothing", written.Load(), refused.Load())
	}
	// THEN the application sees the backup plus what was written after the switch went off
	var kept Replaced
	for _, r := range rep.Replaced {
		if r.Collection == "patients" {
			kept = r
		}
	}
	n, err := db.Collection(kept.KeptAs).CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	live, _ := db.Collection("patients").CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^w"}}}})
	// AND every document written is either kept aside (written before the switch settled) or live
	// (written after it went off), and the report counted the kept ones
	if n+live != 10+written.Load() || kept.Documents != n {
		t.Fatalf("kept %d (report %d) + live %d, want 10 seeded + %d written", n, kept.Documents, live, written.Load())
	}
}

// TestWritesDespiteTheSwitchStopTheRestoreBeforeItSwitches (issue 17 item 5): a writer that does
// not honour the switch is noticed by the listing before the switch; the error names what
// changed, nothing is switched and nothing dropped.
func TestWritesDespiteTheSwitchStopTheRestoreBeforeItSwitches(t *testing.T) {
	ctx := context.Background()
	f := newBackup(t, 20)
	target := newDB("dstrogue")
	seed(t, target, 6)
	db := mongoC.Database(target)
	for _, c := range []struct {
		name, says string
		write      func()
	}{
		{"a document added", "patients: 6 -> 7 documents", func() {
			db.Collection("patients").InsertOne(ctx, bson.D{{Key: "_id", Value: "rogue"}, {Key: "tenantId", Value: "t1"}, {Key: "mrn", Value: 999}})
		}},
		{"a collection created", "new collection audit_export (1 documents)", func() {
			db.Collection("audit_export").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.restore(target, func(o *testRestore) {
				o.Replace = true
				o.fail = func(step string) error {
					if step == "erasures" {
						c.write()
					}
					return nil
				}
			})
			if !errors.Is(err, ErrWritesDuringRestore) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "honour the maintenance switch") {
				t.Fatalf("err = %v", err)
			}
			// THEN the target still holds its data and the write, no staging, the switch off
			if got := reserved(t, target, stagePrefix); len(got) != 0 {
				t.Fatalf("staging left: %v", got)
			}
			if s, _ := maintenance.Get(ctx, db); s != nil {
				t.Fatalf("switch left on: %+v", s)
			}
		})
	}
	if n, _ := db.Collection("patients").CountDocuments(ctx, bson.D{}); n != 7 {
		t.Fatalf("%d patients, want the 6 and the rogue write", n)
	}
}

// TestTheTargetMustMatchThePlan: a restore given the plan's listing refuses a target that changed
// since, naming the change, unless the operator accepted it; then it keeps and reports it.
func TestTheTargetMustMatchThePlan(t *testing.T) {
	ctx := context.Background()
	f := newBackup(t, 10)
	target := newDB("dstplan")
	seed(t, target, 4)
	planned, err := Take(ctx, mongoC.Database(target))
	if err != nil || planned.String() != "notes (2 documents), patients (4 documents)" {
		t.Fatalf("planned %q %v", planned, err)
	}
	mongoC.Database(target).Collection("notes").InsertOne(ctx, bson.D{{Key: "late", Value: true}})
	_, err = f.restore(target, func(o *testRestore) { o.Replace = true; o.Expect = &planned })
	if !errors.Is(err, ErrTargetChanged) || !strings.Contains(err.Error(), "notes: 2 -> 3 documents") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("err = %v", err)
	}
	if got := snapshot(t, target); len(got["notes"]) != 4 { // 3 documents and the index
		t.Fatalf("target changed by a refused restore: %v", got)
	}
	rep, err := f.restore(target, func(o *testRestore) { o.Replace = true; o.Expect = &planned; o.AcceptChanges = true })
	if err != nil || len(rep.TargetChanges) != 1 || rep.Replaced[0].Collection != "notes" || rep.Replaced[0].Documents != 3 {
		t.Fatalf("accepted: %+v %v", rep, err)
	}
}

// TestEveryRestoreFirstFinishesOrRollsBackAnInterruptedSwitch (issue 17 item 6): after a crash in
// the switch, a restore of another, damaged backup first rolls the switch back (or finishes a
// committed one) and says which, before it fails on its own backup.
func TestEveryRestoreFirstFinishesOrRollsBackAnInterruptedSwitch(t *testing.T) {
	ctx := context.Background()
	a := newBackup(t, 25)
	for _, c := range []struct {
		crashAt, says string
		want          func(before map[string][]string) map[string][]string
	}{
		{"rename-stage:notes", "ROLLED BACK the interrupted restore of backup " + a.m.BackupID, func(before map[string][]string) map[string][]string { return before }},
		{"rename-existing:patients", "ROLLED BACK the interrupted restore of backup " + a.m.BackupID, func(before map[string][]string) map[string][]string { return before }},
		{"erasures-after", "FINISHED the interrupted restore of backup " + a.m.BackupID, func(map[string][]string) map[string][]string { return snapshot(t, a.source) }},
	} {
		for _, damage := range []string{"tampered chunk", "key not accepted"} {
			t.Run(c.crashAt+" then "+damage, func(t *testing.T) {
				// GIVEN a target whose restore of backup A died in its switch
				target := newDB("dst")
				seed(t, target, 5)
				before := snapshot(t, target)
				_, err := a.restore(target, func(o *testRestore) {
					o.Replace = true
					o.fail = func(s string) error {
						if s == c.crashAt {
							return errCrash
						}
						return nil
					}
				})
				if !errors.Is(err, errCrash) {
					t.Fatal(err)
				}
				// WHEN another backup B, damaged, is restored
				b := newBackup(t, 7)
				o := func(*testRestore) {}
				switch damage {
				case "tampered chunk":
					key := b.m.ObjectKeys(b.m.Collections[0].Name)[0]
					raw := objectBytes(t, b.store, key)
					raw[len(raw)/2] ^= 1
					putObject(t, b.store, key, raw)
				default:
					o = func(r *testRestore) { r.AllowedKeys = []string{otherKey} }
				}
				_, err = b.restore(target, func(r *testRestore) { r.Replace = true; o(r) })
				// THEN it failed on B, having first finished or rolled back A, and says which
				if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "then this restore stopped") {
					t.Fatalf("err = %v", err)
				}
				if !errors.Is(err, backup.ErrTampered) && !errors.Is(err, backup.ErrWrongKey) {
					t.Fatalf("B's own failure is not named: %v", err)
				}
				sameSnapshot(t, snapshot(t, target), c.want(before))
				if got := reserved(t, target, stagePrefix); len(got) != 0 {
					t.Fatalf("staging left: %v", got)
				}
				if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s != nil {
					t.Fatalf("switch left on: %+v", s)
				}
			})
		}
	}
}

// TestARunningRestoreIsNotRecoveredUnderIt: Recover (and so every restore) leaves a run alone while
// its process lives, and names it; a run of a dead process here, or one silent on another host, is
// recovered.
func TestARunningRestoreIsNotRecoveredUnderIt(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		run     func(r *Run)
		running bool
	}{
		{"this process", func(r *Run) {}, true},
		{"another host, heartbeat fresh", func(r *Run) { r.Host = "laptop-of-bob" }, true},
		{"another host, silent", func(r *Run) { r.Host, r.Heartbeat = "laptop-of-bob", time.Now().Add(-2*HeartbeatStale) }, false},
		{"a process that is gone", func(r *Run) { r.PID = deadPID(t) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := mongoC.Database(newDB("dstlive"))
			o := Options{PlanID: "p"}
			r := o.newRun(KindBackup, "20260101T000000Z-00000000")
			c.run(&r)
			if err := startRun(ctx, db, r); err != nil {
				t.Fatal(err)
			}
			rec, err := Recover(ctx, db, Options{})
			if c.running {
				if !errors.Is(err, ErrRestoreRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on %s", r.PID, r.Host)) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || rec.Action != RolledBack {
				t.Fatalf("recover %+v %v", rec, err)
			}
		})
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// childEnv carries a restore for the kill -9 test's child process.
const childEnv = "CARO_RESTORE_TEST_CHILD"

type childJob struct {
	MongoURI, KMSEndpoint, S3Endpoint, Bucket, BackupID, Key, Target, PauseAt, PauseFile string
}

// runChild is the child process of TestKill9DuringTheSwitch: it restores and stops, forever, at
// PauseAt, after saying so in PauseFile.
func runChild(spec string) int {
	var j childJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	if err := connectChild(ctx, j); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f := fixture{store: backup.NewS3Store(s3Client, j.Bucket, ""), kms: backup.NewAWSKMS(kmsClient), bucket: j.Bucket}
	f.m.BackupID = j.BackupID
	_, err := f.restore(j.Target, func(o *testRestore) {
		o.Replace = true
		o.hooks = nil
		o.fail = func(step string) error {
			if step == j.PauseAt {
				os.WriteFile(j.PauseFile, []byte(step), 0o600)
				select {}
			}
			return nil
		}
	})
	fmt.Fprintln(os.Stderr, "child restore ended:", err)
	return 1
}

// TestKill9DuringTheSwitch kills (SIGKILL) a real restore process in the middle of its switch; the
// next Recover, with the real liveness check, sees the process gone and rolls the switch back:
// the target is as it was, the maintenance switch off.
func TestKill9DuringTheSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	ctx := context.Background()
	f := newBackup(t, 40)
	for _, at := range []string{"rename-existing:patients", "rename-stage:patients", "commit"} {
		t.Run(at, func(t *testing.T) {
			target := newDB("dstkill")
			seed(t, target, 6)
			before := snapshot(t, target)
			pause := filepath.Join(t.TempDir(), "paused")
			spec, _ := json.Marshal(childJob{MongoURI: ferret.URI(), KMSEndpoint: kmsSrv.Endpoint(), S3Endpoint: s3Srv.Endpoint(), Bucket: f.bucket,
				BackupID: f.m.BackupID, Key: keyARN, Target: target, PauseAt: at, PauseFile: pause})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := os.Stat(pause); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("the child never reached " + at)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// WHEN it is killed with SIGKILL mid-switch
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			// THEN a recovery in this process finds it dead and rolls it back
			rec, err := Recover(ctx, mongoC.Database(target), Options{})
			if err != nil || rec.Action != RolledBack {
				t.Fatalf("recover %+v %v", rec, err)
			}
			sameSnapshot(t, snapshot(t, target), before)
			if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s != nil {
				t.Fatalf("switch left on: %+v", s)
			}
			// AND the same restore now succeeds
			if _, err := f.restore(target, func(o *testRestore) { o.Replace = true }); err != nil {
				t.Fatal(err)
			}
			sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
		})
	}
}

// connectChild connects the child process to the parent's servers.
func connectChild(ctx context.Context, j childJob) error {
	var err error
	kmsClient = kms.NewFromConfig(localstack.AWSConfig(testRegion, j.KMSEndpoint))
	s3Client = s3.NewFromConfig(localstack.AWSConfig(testRegion, j.S3Endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	keyARN = j.Key
	mongoC, err = mongo.Connect(options.Client().ApplyURI(j.MongoURI))
	return err
}
