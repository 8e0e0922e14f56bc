package ledger

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/carohealth/platform/internal/audit"
)

// ErrMalformedEntry is wrapped by point reads of an entry document that is not in the form Append
// writes (a field of another type, a field too many or missing, a hash not in lowercase hex): only
// tampering or a foreign writer makes one, so it is reported as an altered entry, never as "could
// not read".
var ErrMalformedEntry = errors.New("stored entry is not in the ledger's form (altered)")

// unknownSeq is the Seq of a stored document whose _id is not an entry number.
const unknownSeq = math.MaxUint64

// entryFields are the fields of an entry document, each required: Append writes exactly these.
var entryFields = []string{"_id", "eventId", "prevHash", "hash", "event"}

// eventFieldNames are the fields of the event sub-document (audit.Event's bson names), in order.
var eventFieldNames = []string{"id", "time", "actor", "tenantId", "action", "resourceType", "resourceId", "subjectRef",
	"interface", "requestId", "beforeHash", "afterHash"}

// eventFields says for each event field whether it may be absent (audit.Event's omitempty fields).
// A present optional field is never empty: omitempty leaves an empty one out.
var eventFields = map[string]bool{"subjectRef": true, "beforeHash": true, "afterHash": true,
	"id": false, "time": false, "actor": false, "tenantId": false, "action": false, "resourceType": false,
	"resourceId": false, "interface": false, "requestId": false}

// decodeStoredEntry reads an entry document strictly: exactly the fields Append writes, each of
// the BSON type it writes, hashes as 64 lowercase hex digits, the _id as 20 decimal digits. The
// entry hash covers the event's values, not how they are stored, so a field added beside them, a
// hash in upper case or a value of another type would otherwise pass or be unreadable; each is
// an altered entry instead. The returned entry has the Seq of its _id when that is an entry
// number (unknownSeq otherwise), also when err is set, so the verifier can name it.
func decodeStoredEntry(raw bson.Raw) (Entry, error) {
	e := Entry{Seq: unknownSeq}
	elems, err := raw.Elements()
	if err != nil {
		return e, fmt.Errorf("the document is not valid BSON: %v", err)
	}
	seen := make(map[string]bool, len(entryFields))
	var problems []string
	for _, el := range elems {
		key, v := el.Key(), el.Value()
		if seen[key] {
			problems = append(problems, fmt.Sprintf("field %q appears twice", key))
			continue
		}
		seen[key] = true
		switch key {
		case "_id":
			s, ok := v.StringValueOK()
			if !ok {
				problems = append(problems, fmt.Sprintf("_id has BSON type %s, not an entry number", v.Type))
				break
			}
			seq, err := strconv.ParseUint(s, 10, 64)
			if err != nil || len(s) != 20 || s != EntryDocID(seq) {
				problems = append(problems, fmt.Sprintf("_id %q is not an entry number (20 decimal digits)", s))
				break
			}
			e.Seq = seq
		case "eventId":
			if e.EventID, err = stringField(key, v); err != nil {
				problems = append(problems, err.Error())
			}
		case "prevHash", "hash":
			h, err := hashField(key, v)
			if err != nil {
				problems = append(problems, err.Error())
			} else if key == "hash" {
				e.Hash = h
			} else {
				e.PrevHash = h
			}
		case "event":
			doc, ok := v.DocumentOK()
			if !ok {
				problems = append(problems, fmt.Sprintf("event has BSON type %s, not a document", v.Type))
				break
			}
			ev, evProblems := decodeStoredEvent(doc)
			e.Event = ev
			problems = append(problems, evProblems...)
		default:
			problems = append(problems, fmt.Sprintf("field %q is not an entry field (extra fields are outside the hashed encoding)", key))
		}
	}
	for _, f := range entryFields {
		if !seen[f] {
			problems = append(problems, fmt.Sprintf("field %q is missing", f))
		}
	}
	if len(problems) > 0 {
		return e, errors.New(joinProblems(problems))
	}
	return e, nil
}

// decodeStoredEvent reads the event sub-document strictly (see decodeStoredEntry).
func decodeStoredEvent(doc bson.Raw) (audit.Event, []string) {
	var ev audit.Event
	var problems []string
	elems, err := doc.Elements()
	if err != nil {
		return ev, []string{fmt.Sprintf("event is not valid BSON: %v", err)}
	}
	seen := make(map[string]bool, len(eventFields))
	for _, el := range elems {
		key, v := el.Key(), el.Value()
		optional, known := eventFields[key]
		switch {
		case !known:
			problems = append(problems, fmt.Sprintf("event field %q is not an audit event field (extra fields are outside the hashed encoding)", key))
			continue
		case seen[key]:
			problems = append(problems, fmt.Sprintf("event field %q appears twice", key))
			continue
		}
		seen[key] = true
		if key == "time" {
			ms, ok := v.DateTimeOK()
			if !ok {
				problems = append(problems, fmt.Sprintf("event.time has BSON type %s, not a date", v.Type))
				continue
			}
			ev.Time = time.UnixMilli(ms).UTC()
			continue
		}
		s, err := stringField("event."+key, v)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if optional && s == "" {
			problems = append(problems, fmt.Sprintf("event.%s is present but empty (never written so)", key))
			continue
		}
		setEventString(&ev, key, s)
	}
	for _, key := range eventFieldNames {
		if !eventFields[key] && !seen[key] {
			problems = append(problems, fmt.Sprintf("event field %q is missing", key))
		}
	}
	return ev, problems
}

func setEventString(ev *audit.Event, key, s string) {
	switch key {
	case "id":
		ev.ID = s
	case "actor":
		ev.Actor = s
	case "tenantId":
		ev.TenantID = s
	case "action":
		ev.Action = s
	case "resourceType":
		ev.ResourceType = s
	case "resourceId":
		ev.ResourceID = s
	case "subjectRef":
		ev.SubjectRef = s
	case "interface":
		ev.Interface = audit.Interface(s)
	case "requestId":
		ev.RequestID = s
	case "beforeHash":
		ev.BeforeHash = s
	case "afterHash":
		ev.AfterHash = s
	}
}

func stringField(name string, v bson.RawValue) (string, error) {
	s, ok := v.StringValueOK()
	if !ok {
		return "", fmt.Errorf("%s has BSON type %s, not a string", name, v.Type)
	}
	return s, nil
}

func hashField(name string, v bson.RawValue) (Hash, error) {
	s, err := stringField(name, v)
	if err != nil {
		return Hash{}, err
	}
	h, err := ParseHash(s)
	if err != nil {
		return Hash{}, fmt.Errorf("%s: %v", name, err)
	}
	return h, nil
}

// joinProblems lists the first few problems of a document (all of them would repeat the story).
func joinProblems(ps []string) string {
	const most = 3
	s := ""
	for i, p := range ps {
		if i == most {
			s += fmt.Sprintf("; and %d more", len(ps)-most)
			break
		}
		if i > 0 {
			s += "; "
		}
		s += p
	}
	return s
}
