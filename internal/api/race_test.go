package api

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestNoNoteOutlivesItsPatient (issue 17 item 1): concurrent note creations, patient deletes and
// subject erasures on the same patients, round after round. During the run a watcher checks, and at
// the end every patient is checked, that no live note exists whose patient is deleted or erased; and
// a 204 on the patient's delete never goes with a 201 for a note that is still stored live.
func TestNoNoteOutlivesItsPatient(t *testing.T) {
	e := newEnv(t)
	tenant := uniqueTenant("race")
	clin := user{"doc-race", tenant, "clinician"}
	admin := user{"admin-race", tenant, "admin"}
	dpo := user{"dpo-race", tenant, "privacy-officer"}
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	var patients []string
	stop := make(chan struct{})
	var watch sync.WaitGroup
	var mu sync.Mutex
	watch.Add(1)
	go func() { // the watcher: a patient once gone never comes back, so "gone, then a live note" is a violation
		defer watch.Done()
		reported := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			ids := append([]string(nil), patients...)
			mu.Unlock()
			for _, id := range ids {
				if msg := orphanNotes(t, tenant, id); msg != "" && !reported[id] {
					reported[id] = true
					t.Errorf("during the run: %s", msg)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	outcomes := map[string]int{}
	for r := range rounds {
		p := e.createPatient(clin)
		mu.Lock()
		patients = append(patients, p.ID)
		mu.Unlock()
		// Some patients start with a note: their delete must be refused until it is gone.
		if r%4 == 0 {
			e.createNote(clin, p.ID, "before")
		}
		var wg sync.WaitGroup
		var created []string
		var deleted, erased atomic.Bool
		var cmu sync.Mutex
		creators := 1 + r%2*3 // one note against the deletes in half the rounds, four in the others
		for i := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Start a little later in some rounds, so the deletes win some races too.
				time.Sleep(time.Duration(i+r%3*2) * time.Millisecond)
				resp, err := e.h.Handle(context.Background(), e.request(clin, "POST", "/patients/"+p.ID+"/notes", fmt.Sprintf(`{"text":"note %d"}`, i)))
				if err != nil || (resp.StatusCode != 201 && resp.StatusCode != 404 && resp.StatusCode != 409) {
					t.Errorf("create note: %v %d %s", err, resp.StatusCode, resp.Body)
					return
				}
				if resp.StatusCode == 201 {
					cmu.Lock()
					created = append(created, decodeBody[Note](t, resp.Body).ID)
					cmu.Unlock()
				}
			}()
		}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := e.h.Handle(context.Background(), e.request(admin, "DELETE", "/patients/"+p.ID, ""))
				switch resp.StatusCode {
				case 204:
					deleted.Store(true)
				case 404, 409:
				default:
					t.Errorf("delete patient: %d %s", resp.StatusCode, resp.Body)
				}
			}()
		}
		if r%3 == 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := e.h.Handle(context.Background(), e.request(dpo, "DELETE", "/subjects/"+p.ID, ""))
				switch resp.StatusCode {
				case 204:
					erased.Store(true)
				case 404, 409:
				default:
					t.Errorf("erase subject: %d %s", resp.StatusCode, resp.Body)
				}
			}()
		}
		wg.Wait()
		if msg := orphanNotes(t, tenant, p.ID); msg != "" {
			t.Errorf("round %d: %s", r, msg)
		}
		if deleted.Load() {
			for _, id := range created {
				var d bson.M
				err := testDB.Collection(NotesCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: tenant + ":" + id}}).Decode(&d)
				if err == nil && d["tombstone"] != true {
					t.Errorf("round %d: patient delete 204 and note %s 201 both stand", r, id)
				}
			}
		}
		outcomes[fmt.Sprintf("deleted=%v erased=%v notes=%d", deleted.Load(), erased.Load(), len(created))]++
	}
	close(stop)
	watch.Wait()
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)
}

// orphanNotes describes the live notes of a patient that is deleted or erased ("" when none).
func orphanNotes(t *testing.T, tenant, patientID string) string {
	t.Helper()
	ctx := context.Background()
	var p bson.M
	err := testDB.Collection(PatientsCollection).FindOne(ctx, bson.D{{Key: "_id", Value: tenant + ":" + patientID}}).Decode(&p)
	gone := err != nil || p["tombstone"] == true
	if !gone {
		return ""
	}
	n, err := testDB.Collection(NotesCollection).CountDocuments(ctx, bson.D{{Key: "tenantId", Value: tenant},
		{Key: "patientId", Value: patientID}, {Key: "tombstone", Value: bson.D{{Key: "$ne", Value: true}}}})
	if err != nil {
		t.Errorf("count notes: %v", err)
		return ""
	}
	if n > 0 {
		return fmt.Sprintf("patient %s is deleted or erased (erased=%v) but has %d live notes", patientID, p["erased"], n)
	}
	return ""
}

func decodeBody[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Errorf("body %q: %v", body, err)
	}
	return v
}
