package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/health"
	"github.com/carohealth/platform/internal/maintenance"
)

func TestCreateAndRestoreRoundTrip(t *testing.T) {
	// GIVEN a backup of a database with two collections and a unique index
	f := newBackup(t, 300)
	if f.m.Documents != 450 || len(f.m.Collections) != 2 {
		t.Fatalf("manifest: %d documents in %d collections, want 450 in 2", f.m.Documents, len(f.m.Collections))
	}
	var progress []backup.Progress
	// WHEN it is restored into an empty database
	target := newDB("dst")
	rep, err := f.restore(target, func(o *testRestore) {
		o.PlanID = "plan-1"
		o.Progress = func(p backup.Progress) { progress = append(progress, p) }
	})
	// THEN the target equals the source, documents, indexes and all
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rep.Documents != 450 || !rep.Verified || rep.Run == "" {
		t.Fatalf("report: %+v", rep)
	}
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
	// AND nothing but the marker, the restore log and the (off) maintenance switch is left
	if got := reserved(t, target, backup.ReservedPrefix); !slices.Equal(got, []string{"_caro_failover", "_caro_maintenance", "_caro_restore_log"}) {
		t.Fatalf("reserved collections left: %v", got)
	}
	if s, err := maintenance.Get(context.Background(), mongoC.Database(target)); err != nil || s != nil {
		t.Fatalf("maintenance switch after the restore: %+v %v", s, err)
	}
	// AND the marker records the completed restore (the failover step's Check), once
	m, done, err := Restored(context.Background(), mongoC.Database(target), f.m.BackupID, "plan-1")
	if err != nil || !done || m.Documents != 450 || m.From != testRegion || m.Run != rep.Run || m.InProgress != nil {
		t.Fatalf("Restored = %+v %v, %v", m, done, err)
	}
	if _, done, _ := Restored(context.Background(), mongoC.Database(target), f.m.BackupID, "plan-2"); done {
		t.Fatal("restored for another plan")
	}
	if len(progress) == 0 || progress[len(progress)-1].Phase != "done" {
		t.Errorf("progress events missing: %v", progress)
	}
}

// TestTheHealthHandlerReadsTheMarkerTheProtocolWrites: /health (internal/health) reads the marker
// with its own type; both must agree on every field.
func TestTheHealthHandlerReadsTheMarkerTheProtocolWrites(t *testing.T) {
	f := newBackup(t, 4)
	target := newDB("dsthealth")
	if _, err := f.restore(target, func(o *testRestore) { o.PlanID = "plan-h"; o.From = "eu-west-1" }); err != nil {
		t.Fatal(err)
	}
	if MarkerCollection != health.MarkerCollection || MarkerID != health.MarkerID {
		t.Fatalf("marker %s/%s, health reads %s/%s", MarkerCollection, MarkerID, health.MarkerCollection, health.MarkerID)
	}
	var h health.RestoreMarker
	if err := mongoC.Database(target).Collection(health.MarkerCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: health.MarkerID}}).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.BackupID != f.m.BackupID || h.PlanID != "plan-h" || h.Documents != 6 || h.From != "eu-west-1" || h.RestoredAt.IsZero() {
		t.Fatalf("health reads %+v", h)
	}
}

func TestRestoreRefusesNonEmptyTargetUnlessReplaceAndKeepsWhatItReplaces(t *testing.T) {
	ctx := context.Background()
	f := newBackup(t, 20)
	// GIVEN a target database with data of its own
	target := newDB("dst")
	seed(t, target, 7)
	mongoC.Database(target).Collection("extra").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	before := snapshot(t, target)
	// WHEN restoring without --replace
	_, err := f.restore(target)
	// THEN it is refused and the target is untouched
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("err = %v, want ErrTargetNotEmpty naming --replace", err)
	}
	sameSnapshot(t, snapshot(t, target), before)
	// WHEN restoring with Replace
	rep, err := f.restore(target, func(o *testRestore) { o.Replace = true })
	if err != nil {
		t.Fatalf("Restore --replace: %v", err)
	}
	// THEN the application sees exactly the backup
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
	// AND everything it replaced is kept under the documented name, listed in the report and the
	// marker, document for document
	var names []string
	for _, r := range rep.Replaced {
		names = append(names, r.Collection)
		if r.KeptAs != KeptName(rep.Run, r.Collection) {
			t.Errorf("%s kept as %q", r.Collection, r.KeptAs)
		}
		if got := collectionPicture(t, mongoC.Database(target).Collection(r.KeptAs)); !slices.Equal(got, before[r.Collection]) {
			t.Errorf("kept %s differs from the replaced %s", r.KeptAs, r.Collection)
		}
	}
	if !slices.Equal(names, []string{"extra", "notes", "patients"}) || rep.Replaced[2].Documents != 7 {
		t.Errorf("Replaced = %+v", rep.Replaced)
	}
	m, _ := ReadMarker(ctx, mongoC.Database(target))
	if m == nil || len(m.Replaced) != 3 || m.Run != rep.Run {
		t.Fatalf("marker %+v", m)
	}
	// AND they stay until discarded: ListKept names them, DiscardKept removes them
	kept, err := ListKept(ctx, mongoC.Database(target))
	if err != nil || len(kept) != 3 || kept[0].Run != rep.Run || kept[0].Collection != "extra" || kept[0].Documents != 1 {
		t.Fatalf("ListKept = %+v %v", kept, err)
	}
	if _, err := DiscardKept(ctx, mongoC.Database(target), "deadbeef"); err == nil || !strings.Contains(err.Error(), "no collections kept by restore run \"deadbeef\"") {
		t.Fatalf("discard of an unknown run: %v", err)
	}
	dropped, err := DiscardKept(ctx, mongoC.Database(target), rep.Run)
	if err != nil || len(dropped) != 3 {
		t.Fatalf("DiscardKept = %+v %v", dropped, err)
	}
	if left := reserved(t, target, prevPrefix); len(left) != 0 {
		t.Fatalf("kept collections left after the discard: %v", left)
	}
	sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
}

func editManifest(t testing.TB, f fixture, edit func(*backup.Manifest)) {
	t.Helper()
	var m backup.Manifest
	if err := json.Unmarshal(objectBytes(t, f.store, backup.ManifestKey(f.m.BackupID)), &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	b, _ := json.MarshalIndent(m, "", "  ") // the canonical form: only the edited field differs
	putObject(t, f.store, backup.ManifestKey(f.m.BackupID), b)
}

func TestRestoreErrorsLeaveTargetUntouched(t *testing.T) {
	patients := func(f fixture) string { return f.m.ObjectKeys(f.m.Collections[1].Name)[0] }
	cases := []struct {
		name   string
		damage func(t *testing.T, f fixture, o *testRestore)
		want   error
		says   string
	}{
		{"tampered chunk", func(t *testing.T, f fixture, o *testRestore) {
			b := objectBytes(t, f.store, patients(f))
			b[len(b)/2] ^= 0x40
			putObject(t, f.store, patients(f), b)
		}, backup.ErrTampered, "altered"},
		{"truncated object", func(t *testing.T, f fixture, o *testRestore) {
			b := objectBytes(t, f.store, patients(f))
			putObject(t, f.store, patients(f), b[:len(b)-100])
		}, backup.ErrTruncated, "truncated"},
		{"missing object", func(t *testing.T, f fixture, o *testRestore) {
			putObject(t, f.store, patients(f), nil)
		}, backup.ErrTruncated, "truncated"},
		{"backup under a key restores do not accept", func(t *testing.T, f fixture, o *testRestore) {
			o.AllowedKeys = []string{otherKey}
		}, backup.ErrWrongKey, keyARN},
		{"no accepted key", func(t *testing.T, f fixture, o *testRestore) {
			o.AllowedKeys = nil
		}, backup.ErrKeysRequired, "--kms-key"},
		{"wrapped key replaced by one under another key", func(t *testing.T, f fixture, o *testRestore) {
			_, wrapped, _, err := f.kms.GenerateDataKey(context.Background(), otherKey, map[string]string{"caro:purpose": "backup", "caro:backup-id": f.m.BackupID, "caro:source-region": f.m.SourceRegion})
			if err != nil {
				t.Fatal(err)
			}
			editManifest(t, f, func(m *backup.Manifest) { m.WrappedDataKey = wrapped })
		}, backup.ErrEncryptionContext, "damaged or tampered"},
		{"wrapped key removed", func(t *testing.T, f fixture, o *testRestore) {
			editManifest(t, f, func(m *backup.Manifest) { m.WrappedDataKey = nil })
		}, backup.ErrManifestMismatch, "damaged or was tampered with"},
		{"wrong encryption context (region edited)", func(t *testing.T, f fixture, o *testRestore) {
			editManifest(t, f, func(m *backup.Manifest) {
				m.SourceRegion = "eu-central-1"
				m.EncryptionContext["caro:source-region"] = m.SourceRegion
			})
		}, backup.ErrEncryptionContext, "encryption context"},
		{"encryption context field edited", func(t *testing.T, f fixture, o *testRestore) {
			editManifest(t, f, func(m *backup.Manifest) { m.EncryptionContext["caro:backup-id"] = "other" })
		}, backup.ErrEncryptionContext, "encryption context"},
		{"manifest count edited", func(t *testing.T, f fixture, o *testRestore) {
			editManifest(t, f, func(m *backup.Manifest) { m.Collections[1].Count++ })
		}, backup.ErrManifestMismatch, "MAC"},
		{"manifest of another backup", func(t *testing.T, f fixture, o *testRestore) {
			editManifest(t, f, func(m *backup.Manifest) { m.BackupID = backup.NewBackupID(time.Now()) })
		}, backup.ErrManifestMismatch, "names backup"},
		{"manifest not JSON", func(t *testing.T, f fixture, o *testRestore) {
			putObject(t, f.store, backup.ManifestKey(f.m.BackupID), []byte("{nope"))
		}, backup.ErrManifestMismatch, "JSON"},
		{"manifest field name in another case", func(t *testing.T, f fixture, o *testRestore) {
			b := objectBytes(t, f.store, backup.ManifestKey(f.m.BackupID))
			putObject(t, f.store, backup.ManifestKey(f.m.BackupID), []byte(strings.Replace(string(b), `"documents":`, `"Documents":`, 1)))
		}, backup.ErrManifestMismatch, "letter case"},
	}
	for _, c := range cases {
		for _, skip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s skipPreverify=%v", c.name, skip), func(t *testing.T) {
				// GIVEN a backup damaged as named, and an empty target
				f := newBackup(t, 120)
				target := newDB("dst")
				o := testRestore{BackupSource: BackupSource{ReadOptions: backup.ReadOptions{AllowedKeys: []string{keyARN}}}}
				c.damage(t, f, &o)
				// WHEN it is restored
				_, err := f.restore(target, func(r *testRestore) {
					r.SkipPreverify = skip
					r.AllowedKeys = o.AllowedKeys
				})
				// THEN it fails with the named kind, a message saying what to do, and the target stays empty
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "(") {
					t.Errorf("message %q should mention %q and a hint", err, c.says)
				}
				if got := snapshot(t, target); len(got) != 0 {
					t.Fatalf("target has collections after a failed restore: %v", got)
				}
				if got := reserved(t, target, stagePrefix); len(got) != 0 {
					t.Fatalf("staging left after a failed restore: %v", got)
				}
				// AND nothing reached the target that would make the API refuse writes
				if s, _ := maintenance.Get(context.Background(), mongoC.Database(target)); s != nil {
					t.Fatalf("maintenance switch left on: %+v", s)
				}
			})
		}
	}
}

func TestRestoreFailureInjectionKeepsTarget(t *testing.T) {
	f := newBackup(t, 60)
	steps := []string{"loaded", "erasures", "rename-existing:extra", "rename-existing:patients", "rename-stage:notes", "rename-stage:patients", "commit"}
	for _, step := range steps {
		for _, crash := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s crash=%v", step, crash), func(t *testing.T) {
				ctx := context.Background()
				// GIVEN a target with data of its own
				target := newDB("dst")
				seed(t, target, 9)
				mongoC.Database(target).Collection("extra").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
				before := snapshot(t, target)
				// WHEN a replace restore fails (or the process dies) at the step
				boom := errors.New("injected failure")
				if crash {
					boom = errCrash
				}
				_, err := f.restore(target, func(o *testRestore) {
					o.Replace = true
					o.fail = func(s string) error {
						if s == step {
							return boom
						}
						return nil
					}
				})
				if !errors.Is(err, boom) {
					t.Fatalf("err = %v, want the injected failure", err)
				}
				// THEN the API refuses writes while a crashed restore is not recovered
				if crash {
					if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s == nil {
						t.Fatal("a crashed restore left the maintenance switch off before its recovery")
					}
					rec := recoverDB(t, target, nil)
					if rec.Action != RolledBack || !strings.Contains(rec.Detail, "ROLLED BACK") {
						t.Fatalf("recovery %+v", rec)
					}
				}
				// AND afterwards the target is as it was, with no staging, no switch on, no run
				sameSnapshot(t, snapshot(t, target), before)
				if left := reserved(t, target, stagePrefix); len(left) != 0 {
					t.Fatalf("staging left: %v", left)
				}
				if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s != nil {
					t.Fatalf("maintenance switch still on: %+v", s)
				}
				if m, _ := ReadMarker(ctx, mongoC.Database(target)); m != nil && (m.InProgress != nil || m.BackupID != "") {
					t.Fatalf("marker after a failed restore: %+v", m)
				}
				// AND a later restore succeeds
				if _, err := f.restore(target, func(o *testRestore) { o.Replace = true }); err != nil {
					t.Fatalf("restore after failure: %v", err)
				}
				sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
			})
		}
	}
	for _, step := range []string{"erasures-after", "marker", "maintenance-off"} {
		t.Run("crash after commit at "+step+" is finished, once", func(t *testing.T) {
			ctx := context.Background()
			target := newDB("dst")
			seed(t, target, 9)
			before := snapshot(t, target)
			_, err := f.restore(target, func(o *testRestore) {
				o.Replace = true
				o.fail = func(s string) error {
					if s == step {
						return errCrash
					}
					return nil
				}
			})
			if !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			rec := recoverDB(t, target, nil)
			if step == "maintenance-off" {
				// the marker was written: only the switch was left on
				if rec.Action != Cleared || !strings.Contains(rec.Detail, "maintenance switch") {
					t.Fatalf("recovery %+v", rec)
				}
			} else if rec.Action != Finished || !strings.Contains(rec.Detail, "FINISHED") || !strings.Contains(rec.Detail, "_caro_prev_") {
				t.Fatalf("recovery %+v", rec)
			}
			sameSnapshot(t, snapshot(t, target), snapshot(t, f.source))
			if again := recoverDB(t, target, nil); again.Action != "" {
				t.Fatalf("second recovery did something: %+v", again)
			}
			if s, _ := maintenance.Get(ctx, mongoC.Database(target)); s != nil {
				t.Fatalf("maintenance switch still on: %+v", s)
			}
			// AND what it replaced is kept, and its audit event is recorded once
			kept, _ := ListKept(ctx, mongoC.Database(target))
			if len(kept) != 2 {
				t.Fatalf("kept %+v", kept)
			}
			for _, k := range kept {
				sameSnapshot(t, map[string][]string{k.Collection: collectionPicture(t, mongoC.Database(target).Collection(k.Name))}, map[string][]string{k.Collection: before[k.Collection]})
			}
			var log struct {
				Outbox map[string]any `bson:"outbox"`
			}
			if err := mongoC.Database(target).Collection(backup.LogCollection).FindOne(ctx, bson.D{{Key: "_id", Value: f.m.BackupID}}).Decode(&log); err != nil || len(log.Outbox) != 1 {
				t.Fatalf("restore log %+v %v", log, err)
			}
		})
	}
}

func TestRestoreLargeDocuments(t *testing.T) {
	// GIVEN documents of 3 MiB next to small ones (batches must split below the 16 MiB command limit)
	src := newDB("big")
	big := strings.Repeat("z", 3<<20)
	for i := range 6 {
		for _, d := range []bson.D{{{Key: "_id", Value: i}, {Key: "blob", Value: big}}, {{Key: "_id", Value: 100 + i}, {Key: "small", Value: true}}} {
			if _, err := mongoC.Database(src).Collection("files").InsertOne(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := fixture{store: newBucket(t), kms: backup.NewAWSKMS(kmsClient), source: src}
	m, err := backup.Create(context.Background(), backup.CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: keyARN, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	// WHEN it is restored with the default batch budget
	target := newDB("bigdst")
	rep, err := f.restore(target, func(o *testRestore) { o.Workers, o.BatchDocs = 0, 0 })
	// THEN every document arrives
	if err != nil || rep.Documents != 12 {
		t.Fatalf("Restore = %+v, %v", rep, err)
	}
	n, _ := mongoC.Database(target).Collection("files").CountDocuments(context.Background(), bson.D{})
	if n != 12 {
		t.Fatalf("%d documents restored", n)
	}
}
