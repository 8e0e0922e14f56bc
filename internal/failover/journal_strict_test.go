package failover

import (
	"errors"
	"strings"
	"testing"
)

// TestJournalLineInAnotherSpellingIsDamage: the journal decides which steps are done, so a line is
// read only in the form Append writes it. A field in another letter case or given twice
// (encoding/json kept the last copy: "step":"restore" then "STEP":"dns" recorded dns as done) is a
// damaged line, reported with how to set it aside like any other damage.
func TestJournalLineInAnotherSpellingIsDamage(t *testing.T) {
	good := `{"time":"2026-11-23T03:00:00Z","plan_id":"p","plan_hash":"h","event":"step-completed","step":"restore"}`
	for name, line := range map[string]string{
		"step twice":        strings.Replace(good, `"step":"restore"`, `"step":"restore","STEP":"dns"`, 1),
		"event capitalised": strings.Replace(good, `"event"`, `"Event"`, 1),
		"unknown field":     strings.Replace(good, `}`, `,"done":true}`, 1),
		"exact duplicate":   strings.Replace(good, `"step":"restore"`, `"step":"dns","step":"restore"`, 1),
		"plan id in a case": strings.Replace(good, `"plan_id"`, `"PLAN_ID"`, 1),
	} {
		recs, err := ParseRecords([]byte(good+"\n"+line+"\n"), "journal.jsonl")
		var damaged *DamagedError
		if !errors.As(err, &damaged) || len(damaged.Lines) != 1 || damaged.Lines[0] != 2 || len(recs) != 1 {
			t.Errorf("%s: records %+v, err %v; want line 2 damaged", name, recs, err)
		}
	}
	recs, err := ParseRecords([]byte(good+"\n"), "journal.jsonl")
	if err != nil || len(recs) != 1 || recs[0].Step != "restore" || recs[0].Event != StepCompleted {
		t.Fatalf("the form Append writes: %+v, %v", recs, err)
	}
	if _, err := DecodeRecord([]byte(strings.Replace(good, `"step"`, `"Step"`, 1))); err == nil {
		t.Fatal("DecodeRecord accepted a field in another case")
	}
}
