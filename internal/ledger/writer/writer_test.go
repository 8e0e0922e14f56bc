package writer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/lambdasecrets"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/ledger/writer"
	"go.mongodb.org/mongo-driver/v2/bson"
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

func newHandler(t *testing.T, interval uint64) (*writer.Handler, *ledgertest.Env) {
	env := servers.NewEnv(t)
	h := writer.NewHandler(env.Store, env.Bucket, env.Signer, writer.Config{Interval: interval, MaxAge: time.Hour, RetentionYears: 9},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	return h, env
}

func event(i int) audit.Event {
	return audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: "sub-1", TenantID: "t1", Action: "patient:write",
		ResourceType: "patient", ResourceID: fmt.Sprintf("p%d", i), Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("r%d", i),
		AfterHash: fmt.Sprintf("%064x", i+1)}
}

func snsInvocation(msgs ...string) json.RawMessage {
	type rec struct {
		EventSource string            `json:"EventSource"`
		Sns         map[string]string `json:"Sns"`
	}
	var recs []rec
	for i, m := range msgs {
		recs = append(recs, rec{EventSource: "aws:sns", Sns: map[string]string{"MessageId": fmt.Sprint("m", i), "Message": m}})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

func marshal(ev audit.Event) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

func count(t *testing.T, env *ledgertest.Env) uint64 {
	var n uint64
	if err := env.Store.ScanEntries(context.Background(), 0, func(ledger.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDuplicateDeliveryYieldsOneEntry(t *testing.T) {
	// GIVEN the writer WHEN the same SNS message is delivered three times
	h, env := newHandler(t, 100)
	msg := marshal(event(1))
	for i := 0; i < 3; i++ {
		if _, err := h.Handle(context.Background(), snsInvocation(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// THEN the ledger holds one entry
	if n := count(t, env); n != 1 {
		t.Fatalf("%d entries", n)
	}
}

func TestPoisonMessagesFailTheInvocation(t *testing.T) {
	ctx := context.Background()
	noActor := event(2)
	noActor.Actor = ""
	withEmail := event(3)
	withEmail.Actor = "jan@example.nl"
	for name, msg := range map[string]string{
		"not JSON":           "{not json",
		"invalid event":      marshal(noActor),
		"personal data":      marshal(withEmail),
		"unknown field":      strings.Replace(marshal(event(4)), `{"id"`, `{"patientName":"Jan","id"`, 1),
		"trailing data":      marshal(event(5)) + "{}",
		"empty message body": "",
	} {
		t.Run(name, func(t *testing.T) {
			// GIVEN the writer WHEN a poison message arrives
			h, env := newHandler(t, 100)
			_, err := h.Handle(ctx, snsInvocation(msg))
			// THEN the invocation fails (Lambda retries, then the DLQ keeps it) and nothing is written
			if err == nil {
				t.Fatal("poison message accepted")
			}
			if n := count(t, env); n != 0 {
				t.Fatalf("%d entries written", n)
			}
		})
	}
	h, _ := newHandler(t, 100)
	if _, err := h.Handle(ctx, json.RawMessage(`{"hello":"world"}`)); err == nil {
		t.Fatal("an unknown invocation shape was accepted")
	}
}

func TestSQSBatchReportsOnlyFailedMessages(t *testing.T) {
	// GIVEN an SQS batch with one SNS-enveloped good event, one raw good event and a poison message
	h, env := newHandler(t, 100)
	envelope, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": marshal(event(1))})
	body := func(id, b string) map[string]string {
		return map[string]string{"eventSource": "aws:sqs", "messageId": id, "body": b}
	}
	inv, _ := json.Marshal(map[string]any{"Records": []any{body("a", string(envelope)), body("b", "{bad"), body("c", marshal(event(2)))}})
	// WHEN handled
	out, err := h.Handle(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	// THEN only the poison message is reported failed, and both good events are in the ledger
	resp := out.(writer.SQSBatchResponse)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "b" {
		t.Fatalf("failures %+v", resp)
	}
	if n := count(t, env); n != 2 {
		t.Fatalf("%d entries", n)
	}
}

func TestWriterCutsCheckpointsAndTheLedgerVerifies(t *testing.T) {
	// GIVEN a writer cutting every 5 entries WHEN 12 events arrive and then the schedule fires
	h, env := newHandler(t, 5)
	for i := 0; i < 12; i++ {
		if _, err := h.Handle(context.Background(), snsInvocation(marshal(event(i)))); err != nil {
			t.Fatal(err)
		}
	}
	h.Checkpointer.MaxAge = time.Nanosecond
	if _, err := h.Handle(context.Background(), json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event"}`)); err != nil {
		t.Fatal(err)
	}
	// THEN every entry is anchored and verifies
	rep, err := env.Verifier(t).Verify(context.Background(), ledger.VerifyOptions{})
	if err != nil || !rep.OK || rep.EntriesVerified != 12 || rep.AnchoredTreeSize != 12 || rep.CheckpointsVerified != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{writer.EnvMongoURI: "mongodb://127.0.0.1:1/", writer.EnvBucket: "b", writer.EnvSigningKey: "arn:k"}
	c, err := writer.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.Database != "caro" || c.RetentionYears != 9 || c.Interval != ledger.DefaultInterval {
		t.Fatalf("%+v %v", c, err)
	}
	if c.CheckpointSchedule != ledger.DefaultCheckpointSchedule {
		t.Fatalf("schedule %v", c.CheckpointSchedule)
	}
	env[writer.EnvCheckpointSchedule] = "2m"
	if c, err = writer.ConfigFromEnv(func(k string) string { return env[k] }); err != nil || c.CheckpointSchedule != 2*time.Minute {
		t.Fatalf("%+v %v", c, err)
	}
	env[writer.EnvCheckpointSchedule] = "often"
	if _, err := writer.ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), writer.EnvCheckpointSchedule) {
		t.Fatalf("bad schedule accepted: %v", err)
	}
	delete(env, writer.EnvCheckpointSchedule)
	env[writer.EnvRetentionYears] = "0"
	if _, err := writer.ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), writer.EnvRetentionYears) {
		t.Fatalf("bad retention accepted: %v", err)
	}
	delete(env, writer.EnvBucket)
	if _, err := writer.ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Fatal("missing bucket accepted")
	}
}

func TestBuildReadsTheDatabaseURIFromTheSecret(t *testing.T) {
	// GIVEN the Parameters and Secrets extension (a fake checking the documented request) serving
	// the connection string
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:caro/eu-west-1/mongodb-uri"
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/secretsmanager/get" || r.URL.Query().Get("secretId") != arn || r.Header.Get("X-Aws-Parameters-Secrets-Token") != "session-token" {
			http.Error(w, "bad request shape", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SecretString": servers.FerretDB.URI()})
	}))
	defer fake.Close()
	old := lambdasecrets.Endpoint
	lambdasecrets.Endpoint = fake.URL
	defer func() { lambdasecrets.Endpoint = old }()
	t.Setenv("AWS_REGION", "eu-west-1")
	env := map[string]string{"AWS_SESSION_TOKEN": "session-token", writer.EnvMongoURISecretARN: arn, writer.EnvDatabase: "buildtest", writer.EnvBucket: "b", writer.EnvSigningKey: "arn:k"}
	cfg, err := writer.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the handler is built THEN it connects with the secret's URI and the ledger works
	h, closeFn, err := writer.Build(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, _, err := h.Ledger.Append(context.Background(), event(1)); err != nil {
		t.Fatal(err)
	}
}

func TestScheduledVerifyPassesThenNamesTheTamperedEntry(t *testing.T) {
	// GIVEN a ledger of 12 entries with a checkpoint every 5
	h, env := newHandler(t, 5)
	for i := 0; i < 12; i++ {
		if _, err := h.Handle(context.Background(), snsInvocation(marshal(event(i)))); err != nil {
			t.Fatal(err)
		}
	}
	verify := json.RawMessage(`{"mode":"verify"}`)
	// WHEN the weekly verification runs THEN it passes
	if _, err := h.Handle(context.Background(), verify); err != nil {
		t.Fatalf("healthy ledger failed verification: %v", err)
	}
	// AND it recorded what it proved (checkpoint 1), signed, so the next run is incremental
	rec, err := env.Bucket.LatestVerification(context.Background())
	if err != nil || rec == nil || rec.Checkpoint != 1 || !rec.Full {
		t.Fatalf("verification record: %+v %v", rec, err)
	}
	for i := 12; i < 17; i++ {
		if _, err := h.Handle(context.Background(), snsInvocation(marshal(event(i)))); err != nil {
			t.Fatal(err)
		}
	}
	out, err := h.Handle(context.Background(), verify)
	if rep, ok := out.(*ledger.Report); err != nil || !ok || rep.IncrementalFrom == nil || rep.IncrementalFrom.Checkpoint != 1 || rep.EntriesVerified != 7 {
		t.Fatalf("second run: %+v %v", out, err)
	}
	// WHEN entry 16's event (after the recorded checkpoint 2) is edited THEN the verification fails naming it,
	// so the invocation is retried, dead-lettered and alarmed
	if _, err := env.DB.Collection(ledger.EntriesCollection).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: ledger.EntryDocID(16)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "event.action", Value: "patient:read"}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = h.Handle(context.Background(), verify)
	if err == nil || !strings.Contains(err.Error(), "first bad entry 16") {
		t.Fatalf("tampered ledger: got %v, want a failure naming entry 16", err)
	}
}

func TestScheduledVerifyAfterAFailoverReadsTheReplicaWithThePeerKey(t *testing.T) {
	ctx := context.Background()
	// GIVEN region B's writer continued region A's ledger after a failover: checkpoints 0..4 by key
	// A in B's replica of bucket A, 5 and 6 by key B in bucket B
	f := servers.NewFailover(t, 12, 27, 11, 5)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := map[string]string{writer.EnvMongoURI: "mongodb://127.0.0.1:1/", writer.EnvBucket: f.B.BucketName, writer.EnvSigningKey: f.B.Signer.Key,
		writer.EnvReplicaBucket: f.Replica.Name, writer.EnvPeerPublicKeys: f.A.Signer.Key + "=" + base64.StdEncoding.EncodeToString(f.A.PublicKey)}
	cfg, err := writer.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	verify := json.RawMessage(`{"mode":"verify"}`)
	// WHEN the peer's key is not configured THEN checkpoint 0 (key A) is refused as an unknown key
	noKey := cfg
	noKey.PeerPublicKeys = nil
	if _, err := writer.NewHandler(f.B.Store, f.B.Bucket, f.B.Signer, noKey, discard).Handle(ctx, verify); err == nil ||
		!strings.Contains(err.Error(), "not one of the pinned keys") {
		t.Fatalf("without the peer key: %v", err)
	}
	// WHEN neither is configured (the own bucket only, as before) THEN the verification fails:
	// checkpoint 0 is missing there
	own := cfg
	own.ReplicaBucket, own.PeerPublicKeys = "", nil
	if _, err := writer.NewHandler(f.B.Store, f.B.Bucket, f.B.Signer, own, discard).Handle(ctx, verify); err == nil ||
		!strings.Contains(err.Error(), "missing") {
		t.Fatalf("own bucket only: %v", err)
	}
	// WHEN the weekly verification runs with the replica bucket and the peer's key configured
	h := writer.NewHandler(f.B.Store, f.B.Bucket, f.B.Signer, cfg, discard)
	out, err := h.Handle(ctx, verify)
	// THEN it checks the whole history: 36 entries, 7 checkpoints
	if rep, ok := out.(*ledger.Report); err != nil || !ok || !rep.OK || rep.EntriesVerified != 36 || rep.CheckpointsVerified != 7 {
		t.Fatalf("%+v %v", out, err)
	}
	// WHEN the same configuration runs in a standby whose database holds no ledger (region A's
	// configuration before the failback: its replica holds B's checkpoints) THEN it passes,
	// checking its own (empty) bucket only
	standby := servers.NewEnv(t)
	sc := cfg
	sc.ReplicaBucket = f.Replica.Name
	if out, err := writer.NewHandler(standby.Store, standby.Bucket, standby.Signer, sc, discard).Handle(ctx, verify); err != nil ||
		out.(*ledger.Report).EntriesVerified != 0 {
		t.Fatalf("standby: %+v %v", out, err)
	}
	// AND a database emptied in a region whose own bucket holds checkpoints still fails
	if _, err := writer.NewHandler(standby.Store, f.B.Bucket, f.B.Signer, sc, discard).Handle(ctx, verify); err == nil || !strings.Contains(err.Error(), "verification failed") {
		t.Fatalf("emptied database: %v", err)
	}
}

func TestConfigReadsThePeerKeys(t *testing.T) {
	der := ledgertest.PublicKeyDER(t)
	b64 := base64.StdEncoding.EncodeToString(der)
	env := map[string]string{writer.EnvMongoURI: "mongodb://127.0.0.1:1/", writer.EnvBucket: "b", writer.EnvSigningKey: "arn:k",
		writer.EnvReplicaBucket: "caro-ledger-replica-123456789012-eu-central-1", writer.EnvPeerPublicKeys: " arn:a=" + b64 + " , arn:b=" + b64 + ","}
	c, err := writer.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || c.ReplicaBucket != env[writer.EnvReplicaBucket] || len(c.PeerPublicKeys) != 2 || string(c.PeerPublicKeys["arn:b"]) != string(der) {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"arn:a", "=" + b64, "arn:a=not base64!", "arn:a=" + base64.StdEncoding.EncodeToString([]byte("not a key")), "arn:a=" + b64 + ",arn:a=" + b64} {
		env[writer.EnvPeerPublicKeys] = bad
		if _, err := writer.ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), writer.EnvPeerPublicKeys) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func TestAHeldLedgerFailsTheInvocationAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	// GIVEN a database a restore placed the ledger hold in
	h, env := newHandler(t, 1)
	var logs strings.Builder
	h.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := ledger.PlaceHold(ctx, env.DB, ledger.Hold{BackupID: "bk-1", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// WHEN an event arrives (SNS) and the schedule fires
	_, err := h.Handle(ctx, snsInvocation(marshal(event(1))))
	_, schedErr := h.Handle(ctx, json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
	// THEN both invocations fail with ErrLedgerHeld (SNS retries, then the DLQ keeps the event),
	// the log says what to run, and nothing is written
	if !errors.Is(err, ledger.ErrLedgerHeld) || !errors.Is(schedErr, ledger.ErrLedgerHeld) || !strings.Contains(logs.String(), "caro audit recover") {
		t.Fatalf("%v / %v / %s", err, schedErr, logs.String())
	}
	if n := count(t, env); n != 0 || countCheckpoints(t, env) != 0 {
		t.Fatalf("%d entries written", n)
	}
	// AND once the hold is gone the redelivered event is written
	if _, err := ledger.ReleaseHold(ctx, env.DB); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(ctx, snsInvocation(marshal(event(1)))); err != nil || count(t, env) != 1 {
		t.Fatal(err)
	}
}

func countCheckpoints(t *testing.T, env *ledgertest.Env) int64 {
	n, err := env.DB.Collection(ledger.CheckpointsCollection).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTheWriterSealsLastYearAndRetiresExpiredSegments(t *testing.T) {
	ctx := context.Background()
	// GIVEN a writer whose clock stands in a year whose segment holds events
	h, env := newHandler(t, 5)
	now := time.Date(2016, 5, 1, 9, 0, 0, 0, time.UTC)
	h.Checkpointer.Now = func() time.Time { return now }
	h.Sealer.Now = func() time.Time { return now }
	for i := 0; i < 10; i++ {
		ev := event(i)
		ev.Time = now
		if _, err := h.Handle(ctx, snsInvocation(marshal(ev))); err != nil {
			t.Fatal(err)
		}
	}
	// WHEN the next year's first schedule fires THEN last year's segment is sealed
	now = time.Date(2017, 1, 1, 0, 5, 0, 0, time.UTC)
	if _, err := h.Handle(ctx, json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event"}`)); err != nil {
		t.Fatal(err)
	}
	seals, err := env.Bucket.ListSeals(ctx)
	if err != nil || len(seals) != 1 || seals[0].Segment != 2016 || seals[0].Final.Number != 1 {
		t.Fatalf("seals %+v %v", seals, err)
	}
	// WHEN the retire schedule fires (the real clock: 2016's retention has ended) THEN the segment is
	// deleted and what is left verifies
	out, err := h.Handle(ctx, json.RawMessage(`{"mode":"retire"}`))
	rep, _ := out.(*ledger.RetireReport)
	if err != nil || rep == nil || len(rep.Segments) != 1 || rep.Entries != 10 {
		t.Fatalf("retire %+v %v", out, err)
	}
	if v, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{}); err != nil || !v.OK || v.Retired == nil || v.Retired.Segment != 2016 {
		t.Fatalf("after retirement %+v %v", v, err)
	}
	// AND a writer without retirement configured refuses the invocation
	h.Retire = nil
	if _, err := h.Handle(ctx, json.RawMessage(`{"mode":"retire"}`)); err == nil {
		t.Fatal("retire without configuration accepted")
	}
}
