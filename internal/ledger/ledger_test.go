package ledger

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carohealth/platform/internal/audit"
)

func TestEncodingCoversEveryEventField(t *testing.T) {
	// GIVEN the audit.Event struct WHEN counting its fields THEN the entry encoding covers them all:
	// a field added to Event must be added to EncodeEntry (and the encoding version bumped).
	if n := reflect.TypeOf(audit.Event{}).NumField(); n != eventFieldCount {
		t.Fatalf("audit.Event has %d fields, EncodeEntry covers %d: extend EncodeEntry and bump the entry tag", n, eventFieldCount)
	}
	// Every field changes the hash.
	base := testEvent(1, "t1")
	base.BeforeHash = hex64(99)
	h0 := EntryHash(0, Hash{}, base)
	v := reflect.ValueOf(&base).Elem()
	for i := 0; i < v.NumField(); i++ {
		ev := base
		f := reflect.ValueOf(&ev).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Struct: // time
			ev.Time = ev.Time.Add(time.Millisecond)
		}
		if EntryHash(0, Hash{}, ev) == h0 {
			t.Errorf("changing field %s does not change the entry hash", v.Type().Field(i).Name)
		}
	}
	if EntryHash(1, Hash{}, base) == h0 || EntryHash(0, Hash{1}, base) == h0 {
		t.Error("seq or prevHash not covered")
	}
}

func TestEncodingIsInjective(t *testing.T) {
	// GIVEN two events whose concatenated fields are equal WHEN hashed THEN the hashes differ.
	a, b := testEvent(1, "t1"), testEvent(1, "t1")
	a.Actor, a.TenantID = "ab", "c"
	b.Actor, b.TenantID = "a", "bc"
	if EntryHash(0, Hash{}, a) == EntryHash(0, Hash{}, b) {
		t.Fatal("length prefixes missing: shifted field boundaries collide")
	}
}

func TestEncodingGoldenVector(t *testing.T) {
	// The documented encoding of a fixed event, so another implementation (or a future refactor)
	// can check itself. Changing this value breaks every stored ledger.
	ev := audit.Event{ID: "0123456789abcdef0123456789abcdef", Time: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		Actor: "sub-1", TenantID: "t1", Action: "patient:write", ResourceType: "patient", ResourceID: "p1",
		Interface: audit.InterfaceAPI, RequestID: "r1", AfterHash: hex64(1)}
	enc := EncodeEntry(5, Hash{}, ev)
	if !strings.HasPrefix(string(enc), "\x00\x00\x00\x14caro.ledger.entry.v1\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x20") {
		t.Fatalf("encoding prefix changed: %q", enc[:48])
	}
	const want = "d521ab30e60ee6cd6dce9d2d1086760e2304f0897c065bd48ad3a035dfec248c" // computed independently in Python from the package doc
	if got := EntryHash(5, Hash{}, ev).String(); got != want {
		t.Fatalf("golden entry hash = %s, want %s", got, want)
	}
}

func TestTimeIsHashedAtStoredPrecision(t *testing.T) {
	// GIVEN an event with nanoseconds WHEN appended THEN the entry holds milliseconds, so the hash
	// still verifies after MongoDB drops the nanoseconds.
	ev := testEvent(1, "t1")
	e := NewEntry(0, Hash{}, ev)
	e.Event.Time = e.Event.Time.Truncate(time.Millisecond).In(time.FixedZone("x", 3600))
	if e.Recompute() != e.Hash {
		t.Fatal("hash depends on sub-millisecond time or time zone")
	}
}

func TestCheckNoPersonalData(t *testing.T) {
	ok := testEvent(1, "t1")
	if err := CheckNoPersonalData(ok); err != nil {
		t.Fatalf("clean event refused: %v", err)
	}
	for name, edit := range map[string]func(*audit.Event){
		"e-mail as actor":         func(e *audit.Event) { e.Actor = "jan@example.nl" },
		"name as resource ID":     func(e *audit.Event) { e.ResourceID = "Jan Jansen" },
		"plain subject reference": func(e *audit.Event) { e.SubjectRef = "patient-jan-jansen" },
		"text as state hash":      func(e *audit.Event) { e.AfterHash = "diagnosis: flu" },
		"newline in request ID":   func(e *audit.Event) { e.RequestID = "r1\nname=Jan" },
	} {
		ev := ok
		edit(&ev)
		if err := CheckNoPersonalData(ev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAppendChainsAndDeduplicates(t *testing.T) {
	// GIVEN an empty ledger
	ctx := context.Background()
	l := &Ledger{Store: newMemStore()}
	ev := testEvent(1, "t1")
	// WHEN one event is delivered three times and another once
	first, created, err := l.Append(ctx, ev)
	if err != nil || !created || first.Seq != 0 || !first.PrevHash.IsZero() {
		t.Fatalf("first append: %+v %v %v", first, created, err)
	}
	for i := 0; i < 2; i++ {
		again, created, err := l.Append(ctx, ev)
		if err != nil || created || again.Hash != first.Hash {
			t.Fatalf("redelivery: %+v %v %v", again, created, err)
		}
	}
	second, _, err := l.Append(ctx, testEvent(2, "t1"))
	// THEN there are two entries, linked
	if err != nil || second.Seq != 1 || second.PrevHash != first.Hash {
		t.Fatalf("second append: %+v %v", second, err)
	}
	// AND an event ID reused with different contents is refused, not written over
	changed := ev
	changed.Action = "patient:delete"
	if _, _, err := l.Append(ctx, changed); err == nil || !strings.Contains(err.Error(), "different contents") {
		t.Fatalf("reused event ID: %v", err)
	}
	// AND an invalid event is refused
	bad := testEvent(3, "t1")
	bad.Actor = ""
	if _, _, err := l.Append(ctx, bad); err == nil {
		t.Fatal("invalid event appended")
	}
}

func TestConcurrentAppendsInMemory(t *testing.T) {
	store := newMemStore()
	concurrentAppends(t, store, 8, 25)
}

// concurrentAppends runs writers goroutines appending each events (each event delivered twice)
// and checks the result is one gap-free chain with every event exactly once.
func concurrentAppends(t *testing.T, store EntryStore, writers, each int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	events := make([]audit.Event, writers*each)
	for i := range events {
		events[i] = testEvent(i, "t1")
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			l := &Ledger{Store: store, MaxAttempts: 1000}
			for i := 0; i < each; i++ {
				// Each writer also redelivers its neighbour's event, racing the original.
				for _, ev := range []audit.Event{events[w*each+i], events[((w+1)%writers)*each+i]} {
					if _, _, err := l.Append(ctx, ev); err != nil {
						errs <- err
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prev Hash
	var n uint64
	err := store.ScanEntries(ctx, 0, func(e Entry) error {
		if e.Seq != n || e.PrevHash != prev || e.Recompute() != e.Hash {
			t.Fatalf("chain broken at %d (entry seq %d)", n, e.Seq)
		}
		if seen[e.EventID] {
			t.Fatalf("event %s appended twice", e.EventID)
		}
		seen[e.EventID] = true
		prev, n = e.Hash, n+1
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(events)) {
		t.Fatalf("%d entries for %d events", n, len(events))
	}
}

func TestCheckpointsAndVerify(t *testing.T) {
	// GIVEN 25 entries with a checkpoint every 10
	f := newFixture(t, 25, 10)
	cps, _ := f.bucket.ListCheckpoints(context.Background())
	if len(cps) != 2 || cps[0].Checkpoint.TreeSize != 10 || cps[1].Checkpoint.TreeSize != 20 {
		t.Fatalf("checkpoints: %+v", cps)
	}
	// WHEN verified THEN all holds
	rep, err := f.verifier().Verify(context.Background(), VerifyOptions{Tenant: "tenant-b"})
	if err != nil || !rep.OK {
		t.Fatalf("%+v %v", rep, err)
	}
	if rep.EntriesVerified != 25 || rep.CheckpointsVerified != 2 || rep.AnchoredTreeSize != 20 || rep.UnanchoredEntries != 5 || rep.TenantEntriesVerified != 9 {
		t.Fatalf("report %+v", rep)
	}
	// AND --since starts at the last checkpoint at or before it
	since := uint64(15)
	rep, err = f.verifier().Verify(context.Background(), VerifyOptions{SinceSeq: &since})
	if err != nil || !rep.OK || rep.FromSeq != 10 || rep.EntriesVerified != 15 {
		t.Fatalf("since: %+v %v", rep, err)
	}
	// AND --since TIME starts at the last checkpoint cut at or before it
	rep, err = f.verifier().Verify(context.Background(), VerifyOptions{SinceTime: time.Date(2026, 11, 23, 6, 30, 0, 0, time.UTC)})
	if err != nil || !rep.OK || rep.FromSeq != 20 || rep.EntriesVerified != 5 {
		t.Fatalf("since time: %+v %v", rep, err)
	}
	rep, err = f.verifier().Verify(context.Background(), VerifyOptions{SinceTime: time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)})
	if err != nil || !rep.OK || rep.FromSeq != 0 || rep.EntriesVerified != 25 {
		t.Fatalf("since early time: %+v %v", rep, err)
	}
	// AND a time-based checkpoint is cut when the last one is old, even below the interval
	f.cpr.Now = func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) }
	made, err := f.cpr.Run(context.Background())
	if err != nil || len(made) != 1 || made[0].TreeSize != 25 {
		t.Fatalf("age checkpoint: %+v %v", made, err)
	}
}

func TestRetentionIsChecked(t *testing.T) {
	for name, r := range map[string]Retention{
		"governance mode": {Mode: "GOVERNANCE", RetainUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)},
		"too short":       {Mode: ObjectLockCompliance, RetainUntil: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		f := newFixture(t, 12, 10)
		f.bucket.ret[CheckpointKey(0)] = r
		rep, err := f.verifier().Verify(context.Background(), VerifyOptions{})
		if err != nil || rep.OK || rep.FirstBad.Seq != 0 {
			t.Fatalf("%s: not detected: %+v %v", name, rep, err)
		}
	}
}

func TestInclusionProofsMatchTheLibrary(t *testing.T) {
	// GIVEN trees of many sizes WHEN a path is computed for every leaf THEN the transparency-dev
	// verifier accepts it against the root Extend computes.
	for size := 1; size <= 33; size++ {
		leaves := make([]Hash, size)
		for i := range leaves {
			leaves[i] = EntryHash(uint64(i), Hash{}, testEvent(i, "t"))
		}
		_, root, _ := Extend(nil, leaves)
		for i := 0; i < size; i++ {
			path, err := InclusionPath(leaves, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), leaves[i][:], toBytes(path), root[:]); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
		}
	}
}

func TestNoUpdateOrDeleteCodePath(t *testing.T) {
	// The package only inserts and reads: no non-test file calls an update, replace or delete.
	files, _ := filepath.Glob("*.go")
	writerFiles, _ := filepath.Glob("writer/*.go")
	files = append(files, writerFiles...)
	forbidden := regexp.MustCompile(`\.(UpdateOne|UpdateMany|ReplaceOne|DeleteOne|DeleteMany|FindOneAndUpdate|FindOneAndReplace|FindOneAndDelete|BulkWrite|Drop|DeleteObject|DeleteObjects|PutObjectRetention|PutObjectLegalHold)\(`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if f == "hold.go" {
			// The restore's hold is not part of the ledger: its one delete is on HoldCollection.
			if n := len(forbidden.FindAll(src, -1)); n != 1 || !strings.Contains(string(src), `db.Collection(HoldCollection).DeleteOne(`) {
				t.Errorf("hold.go may only delete the hold document (found %d forbidden calls)", n)
			}
			continue
		}
		if f == "head.go" {
			// The head hint is not part of the ledger: its one update raises HeadCollection's document.
			calls := strings.ReplaceAll(string(src), "options.UpdateOne()", "")
			if n := len(forbidden.FindAllString(calls, -1)); n != 1 || !strings.Contains(calls, `db.Collection(HeadCollection).UpdateOne(`) {
				t.Errorf("head.go may only raise the head hint (found %d forbidden calls)", n)
			}
			continue
		}
		if f == "retire.go" {
			// Retirement of sealed segments whose retention ended: the segment's entries and
			// checkpoint records (two DeleteMany) and its object versions (one DeleteObject).
			calls := forbidden.FindAllString(string(src), -1)
			if len(calls) != 3 || !strings.Contains(string(src), "o.Store.entries.DeleteMany(") || !strings.Contains(string(src), "o.Store.checkpoints.DeleteMany(") ||
				!strings.Contains(string(src), "del.DeleteObject(") {
				t.Errorf("retire.go may only delete a retired segment's entries, records and objects (found %v)", calls)
			}
			continue
		}
		if m := forbidden.Find(src); m != nil {
			t.Errorf("%s calls %s: the ledger must be insert-only", f, m)
		}
	}
}

func TestCheckpointJSONRoundTrip(t *testing.T) {
	f := newFixture(t, 10, 10)
	c := f.bucket.objs[CheckpointKey(0)].Checkpoint
	b, _ := json.Marshal(c)
	back, err := ParseCheckpoint(b)
	if err != nil || back.Digest() != c.Digest() || back.VerifySignature(&f.signer.Key.PublicKey) != nil {
		t.Fatalf("round trip: %v", err)
	}
}

func TestListingReadsTheSignedPartOnly(t *testing.T) {
	f := newFixture(t, 10, 10)
	c := f.bucket.objs[CheckpointKey(0)].Checkpoint
	old := *c
	old.Entries = nil
	oldJSON, _ := json.Marshal(&old)
	withEntries := *c
	withEntries.Entries = make([]Entry, len(c.LeafHashes))
	for i := range withEntries.Entries {
		withEntries.Entries[i], _, _ = f.store.EntryAt(context.Background(), uint64(i))
	}
	newJSON, _ := json.Marshal(&withEntries)
	// GIVEN a checkpoint object in the old format and one carrying its entries (the last field)
	if !strings.Contains(string(newJSON), `"entries":[`) || strings.Index(string(newJSON), `"entries"`) < strings.Index(string(newJSON), `"signature"`) {
		t.Fatal(`"entries" must be the last field, after the signed ones`)
	}
	for name, raw := range map[string][]byte{"old": oldJSON, "new": newJSON} {
		// WHEN read for a listing THEN the signed part is the same and the entries are left unread
		got, err := parseSigned(strings.NewReader(string(raw)))
		if err != nil || got.Digest() != c.Digest() || got.VerifySignature(&f.signer.Key.PublicKey) != nil || got.Entries != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// AND an object cut short in its signed part is an error, not a checkpoint
		if _, err := parseSigned(strings.NewReader(string(raw[:len(oldJSON)/3]))); err == nil {
			t.Fatalf("%s: truncated object accepted", name)
		}
	}
	// AND unknown or repeated fields are still refused
	for _, bad := range []string{`{"version":1,"extra":2}`, `{"version":1,"version":1}`, `[1]`} {
		if _, err := parseSigned(strings.NewReader(bad)); err == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}
