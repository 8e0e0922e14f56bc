package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

var servers *ledgertest.Servers

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	servers, err = ledgertest.StartServers(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	servers.Stop()
	os.Exit(code)
}

// mongoTamper edits the entries collection directly, as an attacker with database access would.
type mongoTamper struct{ coll *mongo.Collection }

type rawEntry struct {
	ID       string      `bson:"_id"`
	EventID  string      `bson:"eventId"`
	PrevHash string      `bson:"prevHash"`
	Hash     string      `bson:"hash"`
	Event    audit.Event `bson:"event"`
}

func (m mongoTamper) Get(t *testing.T, seq uint64) ledger.Entry {
	var d rawEntry
	if err := m.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: ledger.EntryDocID(seq)}}).Decode(&d); err != nil {
		t.Fatalf("get %d: %v", seq, err)
	}
	prev, _ := ledger.ParseHash(d.PrevHash)
	h, _ := ledger.ParseHash(d.Hash)
	d.Event.Time = d.Event.Time.UTC()
	parsed, _ := strconv.ParseUint(d.ID, 10, 64)
	return ledger.Entry{Seq: parsed, EventID: d.EventID, PrevHash: prev, Hash: h, Event: d.Event}
}

func (m mongoTamper) Put(t *testing.T, e ledger.Entry) {
	ctx := context.Background()
	// The unique eventId index would refuse a moved entry while its old copy exists: drop the copy
	// first, as an attacker could.
	if _, err := m.coll.DeleteMany(ctx, bson.D{{Key: "eventId", Value: e.EventID}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: ledger.EntryDocID(e.Seq)}}}}); err != nil {
		t.Fatal(err)
	}
	d := rawEntry{ID: ledger.EntryDocID(e.Seq), EventID: e.EventID, PrevHash: e.PrevHash.String(), Hash: e.Hash.String(), Event: e.Event}
	if _, err := m.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(e.Seq)}}, d, options.Replace().SetUpsert(true)); err != nil {
		t.Fatalf("put %d: %v", e.Seq, err)
	}
}

func (m mongoTamper) Del(t *testing.T, seq uint64) {
	if _, err := m.coll.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: ledger.EntryDocID(seq)}}); err != nil {
		t.Fatal(err)
	}
}

func (m mongoTamper) Count(t *testing.T) uint64 {
	n, err := m.coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return uint64(n)
}

// filled returns an env with n entries appended through the ledger and checkpointed every interval
// (KMS-signed, written to the Object Lock bucket).
func filled(t *testing.T, n int, interval uint64) *ledgertest.Env {
	env := servers.NewEnv(t)
	ctx := context.Background()
	l := &ledger.Ledger{Store: env.Store}
	cpr := env.Checkpointer(interval)
	for i := 0; i < n; i++ {
		tenant := "tenant-a"
		if i%3 == 0 {
			tenant = "tenant-b"
		}
		if _, _, err := l.Append(ctx, ledger.TestEvent(i, tenant)); err != nil {
			t.Fatal(err)
		}
		if _, err := cpr.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func TestConcurrentAppendsOnFerretDB(t *testing.T) {
	// GIVEN an empty ledger on FerretDB WHEN 6 goroutines append 10 events each, every event
	// delivered twice by racing writers THEN there is one gap-free chain with each event once.
	env := servers.NewEnv(t)
	ledger.ConcurrentAppends(t, env.Store, 6, 10)
}

func TestConcurrentBatchesOnFerretDB(t *testing.T) {
	// GIVEN an empty ledger on FerretDB WHEN 8 goroutines share one Ledger (group commit) and 2 use
	// stores of their own (other processes), appending batches that redeliver a neighbour's events
	// THEN there is one gap-free chain with each event once.
	env := servers.NewEnv(t)
	ledger.ConcurrentBatches(t, env.Store, func() *ledger.MongoStore { return ledger.NewMongoStore(env.DB) })
}

func TestTamperedEntriesAreDetectedOnFerretDB(t *testing.T) {
	ledger.RunEntryTamperCases(t, func(t *testing.T) (ledger.TamperTarget, *ledger.Verifier) {
		env := filled(t, 25, 10)
		return mongoTamper{coll: env.DB.Collection(ledger.EntriesCollection)}, env.Verifier(t)
	})
}

func TestEntryOutsideTheSequenceIsDetected(t *testing.T) {
	// GIVEN a verified ledger WHEN a document with a numeric _id (invisible to range scans) is added
	env := filled(t, 12, 5)
	ev := ledger.TestEvent(99, "t1")
	if _, err := env.DB.Collection(ledger.EntriesCollection).InsertOne(context.Background(),
		bson.D{{Key: "_id", Value: int64(3)}, {Key: "eventId", Value: ev.ID}, {Key: "event", Value: ev}}); err != nil {
		t.Fatal(err)
	}
	// THEN verification fails after the last chained entry, naming the document outside the chain
	// (a full pass reads every document of the collection)
	rep, err := env.Verifier(t).Verify(context.Background(), ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 12 || !strings.Contains(rep.FirstBad.Reason, "not an entry number") {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestCheckpointsAreSignedInKMSAndLockedInS3(t *testing.T) {
	ctx := context.Background()
	// GIVEN 25 entries checkpointed every 10 with the KMS key into the Object Lock bucket
	env := filled(t, 25, 10)
	// THEN verification passes with the public key alone
	rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.EntriesVerified != 25 || rep.CheckpointsVerified != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	// AND each checkpoint object is in COMPLIANCE mode for at least 9 years
	r, err := env.Bucket.Retention(ctx, ledger.CheckpointKey(1))
	if err != nil || r.Mode != "COMPLIANCE" || r.RetainUntil.Before(time.Now().AddDate(9, 0, 0)) {
		t.Fatalf("retention %+v %v", r, err)
	}
	// AND the object can be neither deleted nor overwritten
	key := aws.String(ledger.CheckpointKey(0))
	if _, err := env.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(env.BucketName), Key: key}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("delete of a locked checkpoint: %v", err)
	}
	// AND republishing the same checkpoint (a retry) is a no-op, while a different one is refused
	cps, _ := env.Bucket.ListCheckpoints(ctx)
	if err := env.Bucket.Publish(ctx, cps[0].Checkpoint, time.Now().AddDate(9, 0, 1)); err != nil {
		t.Fatalf("idempotent republish: %v", err)
	}
	other := *cps[0].Checkpoint
	other.Time = other.Time.Add(time.Second)
	if err := env.Bucket.Publish(ctx, &other, time.Now().AddDate(9, 0, 1)); err == nil {
		t.Fatal("a different checkpoint was published over an existing one")
	}
	// WHEN a checkpoint is written over (S3 keeps the locked version and adds a new one)
	forged := *cps[0].Checkpoint
	forged.Time = forged.Time.Add(time.Second)
	if err := forged.Sign(ctx, env.Signer); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(&forged)
	if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env.BucketName), Key: key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	// THEN verification fails at checkpoint 0, even though the new version is validly signed
	rep, err = env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 0 || !strings.Contains(rep.FirstBad.Reason, "versions") {
		t.Fatalf("overwritten checkpoint not detected: %+v %v", rep, err)
	}
	// WHEN a checkpoint's lock is weakened (governance mode, or a short retention) on a fresh ledger
	env = filled(t, 25, 10)
	for _, tc := range []struct {
		mode  string
		until time.Time
	}{{"GOVERNANCE", time.Now().AddDate(20, 0, 0)}, {"COMPLIANCE", time.Now().AddDate(1, 0, 0)}} {
		servers.Shim.SetRetention(env.BucketName, ledger.CheckpointKey(1), tc.mode, tc.until)
		rep, err = env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
		// THEN verification fails at the first entry that checkpoint anchors
		if err != nil || rep.OK || rep.FirstBad.Seq != 10 || rep.FirstBad.Checkpoint == nil {
			t.Fatalf("%s: not detected: %+v %v", tc.mode, rep, err)
		}
	}
}

func TestCheckpointRecordedButNotPublishedIsPublishedByTheNextRun(t *testing.T) {
	// GIVEN a writer that recorded checkpoint 0 and crashed before writing it to S3
	ctx := context.Background()
	env := servers.NewEnv(t)
	recordUnpublishedCheckpoint(t, env, 3)
	// WHEN the next run happens (nothing new is due)
	if _, err := env.Checkpointer(100).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// THEN checkpoint 0 is in the bucket and verifies
	rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.CheckpointsVerified != 1 || rep.AnchoredTreeSize != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
}

// recordUnpublishedCheckpoint appends n entries and records (signed, in the database) checkpoint 0
// over them without publishing it to the bucket: a writer that crashed between the two.
func recordUnpublishedCheckpoint(t *testing.T, env *ledgertest.Env, n int) *ledger.Checkpoint {
	t.Helper()
	ctx := context.Background()
	l := &ledger.Ledger{Store: env.Store}
	var leaves []ledger.Hash
	for i := 0; i < n; i++ {
		e, _, err := l.Append(ctx, ledger.TestEvent(i, "t1"))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, e.Hash)
	}
	cp, err := ledger.NextCheckpoint(nil, leaves, time.Now(), env.Signer.KeyID(), env.Signer.Algorithm())
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Sign(ctx, env.Signer); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.InsertCheckpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestConcurrentCheckpointersAgree(t *testing.T) {
	// GIVEN 30 entries WHEN four checkpointers run at once THEN one chain of checkpoints results.
	ctx := context.Background()
	env := servers.NewEnv(t)
	l := &ledger.Ledger{Store: env.Store}
	for i := 0; i < 30; i++ {
		if _, _, err := l.Append(ctx, ledger.TestEvent(i, "t1")); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			cpr := env.Checkpointer(7)
			cpr.MaxLeaves = 7
			_, err := cpr.Run(ctx)
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.AnchoredTreeSize != 28 || rep.CheckpointsVerified != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestCryptoShreddingKeepsEveryHashVerifying(t *testing.T) {
	ctx := context.Background()
	env := servers.NewEnv(t)
	keys := audit.NewSubjectKeys(env.DB)
	if err := keys.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	// GIVEN events about a patient, referenced by keyed hashes under the patient's own key
	key, err := keys.Create(ctx, "tenant-a", "patient-42")
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger.Ledger{Store: env.Store}
	var ids []string
	for i := 0; i < 5; i++ {
		ev := ledger.TestEvent(i, "tenant-a")
		ev.SubjectRef = key.Ref("tenant-a", "patient-42")
		ev.AfterHash = key.StateHash([]byte(fmt.Sprintf(`{"name":"Jan Jansen","v":%d}`, i)))
		if _, _, err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	if _, err := env.Checkpointer(5).Run(ctx); err != nil {
		t.Fatal(err)
	}
	// AND nothing personal is stored in the entries
	raw, _ := env.DB.Collection(ledger.EntriesCollection).Find(ctx, bson.D{})
	var docs []bson.M
	_ = raw.All(ctx, &docs)
	if s := fmt.Sprint(docs); strings.Contains(s, "Jan") || strings.Contains(s, "patient-42") {
		t.Fatalf("personal data in the ledger: %s", s)
	}
	// WHEN the subject is erased (its key destroyed)
	if err := keys.Erase(ctx, "tenant-a", "patient-42"); err != nil {
		t.Fatal(err)
	}
	// THEN the reference can no longer be recomputed or linked
	if _, err := keys.Ref(ctx, "tenant-a", "patient-42"); !errors.Is(err, audit.ErrSubjectKeyNotFound) {
		t.Fatalf("key still there: %v", err)
	}
	// AND every entry and checkpoint still verifies, and inclusion proofs still check
	rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.EntriesVerified != 5 {
		t.Fatalf("after shredding: %+v %v", rep, err)
	}
	p := &ledger.Prover{Entries: env.Store, Checkpoints: env.Bucket, PublicKey: env.PublicKey}
	proof, err := p.Prove(ctx, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(env.PublicKey); err != nil {
		t.Fatal(err)
	}
}

func TestProofsOnRealServers(t *testing.T) {
	ctx := context.Background()
	env := filled(t, 23, 10)
	p := &ledger.Prover{Entries: env.Store, Checkpoints: env.Bucket, PublicKey: env.PublicKey}
	var ids []string
	_ = env.Store.ScanEntries(ctx, 0, func(e ledger.Entry) error { ids = append(ids, e.EventID); return nil })
	// GIVEN anchored entries WHEN proved THEN each proof verifies offline against the pinned key
	for _, i := range []int{0, 9, 10, 19} {
		proof, err := p.Prove(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.Verify(env.PublicKey); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		// AND any change to the proof's entry or path is refused
		bad := *proof
		bad.Entry.Event.Action = "patient:read"
		if bad.Verify(env.PublicKey) == nil {
			t.Fatal("altered entry accepted")
		}
		bad = *proof
		bad.AuditPath = append([]ledger.Hash(nil), proof.AuditPath...)
		bad.AuditPath[0][0] ^= 1
		if bad.Verify(env.PublicKey) == nil {
			t.Fatal("altered path accepted")
		}
		if proof.Verify([]byte("other key")) == nil {
			t.Fatal("proof accepted under another pinned key")
		}
	}
	// AND an unanchored entry is reported as such
	if _, err := p.Prove(ctx, ids[22]); !errors.Is(err, ledger.ErrNotAnchored) {
		t.Fatalf("unanchored: %v", err)
	}
	if _, err := p.Prove(ctx, "nope"); !errors.Is(err, ledger.ErrNoEntry) {
		t.Fatalf("unknown: %v", err)
	}
}
