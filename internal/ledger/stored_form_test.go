package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/ledger"
)

// storedFormCases alter how an entry is stored without (necessarily) changing what it hashes to:
// a value of another BSON type, a field added or removed, a hash in upper case. Each is tampering:
// verification must fail naming the entry, never stop with "could not read" (exit 1) nor pass.
var storedFormCases = []struct {
	name   string
	seq    uint64
	update bson.D // a $set/$unset update of entry seq, as an attacker with database access would
	reason string
}{
	{"a time stored as a string", 7, set("event.time", "2026-11-23T06:00:07.123Z"), "event.time has BSON type string"},
	{"a time stored as milliseconds", 7, set("event.time", int64(1795413607123)), "event.time has BSON type 64-bit integer"},
	{"a hash stored as an integer", 7, set("hash", int32(7)), "hash has BSON type 32-bit integer"},
	{"the previous hash stored as a double", 8, set("prevHash", 1.5), "prevHash has BSON type double"},
	{"the event ID stored as an integer", 7, set("eventId", int64(7)), "eventId has BSON type 64-bit integer"},
	{"the event stored as a string", 7, set("event", "{}"), "event has BSON type string"},
	{"an event field set to null", 7, set("event.actor", nil), "event.actor has BSON type null"},
	{"an event field as an array", 7, set("event.tenantId", bson.A{"tenant-a"}), "event.tenantId has BSON type array"},
	{"an extra field beside the entry", 7, set("note", "free text outside the hash"), `field "note" is not an entry field`},
	{"an extra field in an unanchored event", 22, set("event.patientName", "Jan Jansen"), `event field "patientName" is not an audit event field`},
	{"an extra field in the first entry", 0, set("extra", int32(1)), `field "extra" is not an entry field`},
	{"the entry hash in upper case", 7, nil, "lowercase hex"},
	{"the previous hash in upper case", 12, nil, "lowercase hex"},
	{"an optional field present but empty", 7, set("event.beforeHash", ""), "event.beforeHash is present but empty"},
	{"a required field removed", 7, bson.D{{Key: "$unset", Value: bson.D{{Key: "event.requestId", Value: ""}}}}, `event field "requestId" is missing`},
}

func set(field string, v any) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: v}}}}
}

func TestEntriesStoredInAnotherFormAreTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range storedFormCases {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN a verified ledger of 25 entries (checkpoints at 10 and 20)
			env := filled(t, 25, 10)
			coll := env.DB.Collection(ledger.EntriesCollection)
			id := bson.D{{Key: "_id", Value: ledger.EntryDocID(tc.seq)}}
			update := tc.update
			if update == nil { // upper-case the hash the case names, keeping its bytes
				var doc bson.M
				if err := coll.FindOne(ctx, id).Decode(&doc); err != nil {
					t.Fatal(err)
				}
				field := "hash"
				if strings.Contains(tc.name, "previous") {
					field = "prevHash"
				}
				update = set(field, strings.ToUpper(doc[field].(string)))
			}
			// WHEN the entry's stored form is changed
			if _, err := coll.UpdateOne(ctx, id, update); err != nil {
				t.Fatal(err)
			}
			// THEN verification runs (no error: that would be exit 1, "could not run") and fails at
			// that entry, saying what is wrong with it
			rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
			if err != nil {
				t.Fatalf("verification could not run: %v", err)
			}
			if rep.OK || rep.FirstBad == nil || rep.FirstBad.Seq != tc.seq || !strings.Contains(rep.FirstBad.Reason, tc.reason) ||
				!strings.Contains(rep.FirstBad.Reason, "altered") {
				t.Fatalf("first bad = %v; want entry %d with %q", rep.FirstBad, tc.seq, tc.reason)
			}
			if rep.EntriesVerified != tc.seq {
				t.Fatalf("verified %d entries before the bad one, want %d", rep.EntriesVerified, tc.seq)
			}
		})
	}
}

func TestADocumentWhoseIDIsNotAnEntryNumberIsTampering(t *testing.T) {
	// GIVEN a verified ledger of 12 entries
	ctx := context.Background()
	env := filled(t, 12, 5)
	coll := env.DB.Collection(ledger.EntriesCollection)
	var doc bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(11)}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// WHEN the last entry is moved to an _id that is a string but not an entry number
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(11)}}); err != nil {
		t.Fatal(err)
	}
	doc[0].Value = ledger.EntryDocID(11) + "x"
	if _, err := coll.InsertOne(ctx, doc); err != nil {
		t.Fatal(err)
	}
	// THEN verification fails where entry 11 belongs, naming the document
	rep, err := env.Verifier(t).Verify(ctx, ledger.VerifyOptions{})
	if err != nil || rep.OK || rep.FirstBad.Seq != 11 || !strings.Contains(rep.FirstBad.Reason, "not an entry number") {
		t.Fatalf("%+v %v", rep.FirstBad, err)
	}
}

func TestAppendAndProveRefuseAnAlteredStoredEntry(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger whose head entry has an extra field
	env := filled(t, 10, 5)
	coll := env.DB.Collection(ledger.EntriesCollection)
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(9)}}, set("event.time", "yesterday")); err != nil {
		t.Fatal(err)
	}
	// WHEN a fresh writer appends THEN it refuses to chain onto the altered entry, saying so
	fresh := ledger.NewMongoStore(env.DB)
	_, _, err := (&ledger.Ledger{Store: fresh}).Append(ctx, ledger.TestEvent(50, "t1"))
	if !errors.Is(err, ledger.ErrMalformedEntry) || !strings.Contains(err.Error(), "caro audit verify") {
		t.Fatalf("append onto an altered head: %v", err)
	}
	// AND proving that entry's event refuses it as altered
	var doc bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ledger.EntryDocID(9)}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	p := &ledger.Prover{Entries: fresh, Checkpoints: env.Bucket, PublicKey: env.PublicKey}
	if _, err := p.Prove(ctx, doc["eventId"].(string)); !errors.Is(err, ledger.ErrMalformedEntry) {
		t.Fatalf("prove of an altered entry: %v", err)
	}
}
