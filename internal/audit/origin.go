package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// PlatformTenant is the TenantID of an event about a change that belongs to no single tenant, such
// as a restore replacing a whole database. It can never be a real tenant's ID (the colon is not
// allowed in tenant IDs, tenancy.ValidTenantID), so no tenant store reads or writes it, and it is a
// valid ledger identifier (letters, digits and ._:/-, ledger.CheckNoPersonalData), so the ledger
// stores it like any other tenant ID; its encoding is unchanged.
const PlatformTenant = "caro:platform"

// PlatformOutboxCollection holds the outboxes of platform-level changes: the restore log that
// internal/backup keeps in the target database (one document per restored backup, tenantId
// PlatformTenant, outbox fields as in every outbox document). Reserved-prefix collections are never
// backed up nor replaced by a restore, so its pending events survive later restores. The API's
// reconciler scans it with the tenant collections.
const PlatformOutboxCollection = "_caro_restore_log"

// Origin says who made a change outside the API, and how: the operator or job identity, the
// interface (cli, or job when the failover runs it) and one request ID per command run. Events
// written by the CLI and jobs take these three fields from it.
type Origin struct {
	// Actor is the operator identity (an AWS principal ARN, or "os-user:<name>") or the job name,
	// as an identifier the ledger accepts (ActorID).
	Actor string `json:"actor"`
	// Interface is InterfaceCLI or InterfaceJob.
	Interface Interface `json:"interface"`
	// RequestID is a fresh ID per command run (NewEventID), shared by every event of the run.
	RequestID string `json:"requestId"`
}

// ActorID turns an operator identity into an identifier the ledger accepts (it refuses free text:
// letters, digits and ._:/- only, starting with a letter or digit, at most 128 characters): any
// other character (an IAM session name may hold @ = , +) becomes '-', and a longer value is cut.
func ActorID(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '/' || c == '-'
		if !ok {
			b[i] = '-'
		}
	}
	out := strings.TrimLeft(string(b), "._:/-")
	if len(out) > 128 {
		out = out[:128]
	}
	if out == "" {
		return "unknown-operator"
	}
	return out
}

// Validate says which field is missing, so a change without an origin is refused before it is
// made rather than left unaudited.
func (o Origin) Validate() error {
	if o.Actor == "" || o.RequestID == "" {
		return errors.New("audit origin needs an actor and a request ID (who made the change, which run)")
	}
	switch o.Interface {
	case InterfaceAPI, InterfaceCLI, InterfaceJob:
		return nil
	}
	return fmt.Errorf("audit origin: interface %q is not one of api, cli, job", o.Interface)
}

// Event returns a new event of this origin (ID and time filled) for the change; the caller sets
// the hashes (and SubjectRef where a data subject is concerned).
func (o Origin) Event(now time.Time, tenantID, action, resourceType, resourceID string) Event {
	ev := NewEvent(now)
	ev.Actor, ev.Interface, ev.RequestID = o.Actor, o.Interface, o.RequestID
	ev.TenantID, ev.Action, ev.ResourceType, ev.ResourceID = tenantID, action, resourceType, resourceID
	return ev
}

// Written locates an event written into the outbox of one document, so the writer can deliver it
// inline (DeliverWritten) right after the change; the reconciler publishes it otherwise.
type Written struct {
	// Collection is the collection the document is in once the change is live.
	Collection string `json:"collection"`
	// TenantID and DocID identify the document (its tenantId and _id).
	TenantID string `json:"tenantId"`
	DocID    any    `json:"docId"`
	// Event is the event.
	Event Event `json:"event"`
}

// DeliverWritten publishes each event and marks it sent (Deliver). A failure leaves that event
// pending for the reconciler; the others are still tried. It returns how many were delivered.
func DeliverWritten(ctx context.Context, pub Publisher, db *mongo.Database, events []Written) (int, error) {
	n := 0
	var errs []error
	for _, w := range events {
		if err := Deliver(ctx, pub, db.Collection(w.Collection), w.TenantID, w.DocID, w.Event); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("%d of %d audit events not published inline (they stay pending; the reconciler publishes them): %w",
			len(errs), len(events), errors.Join(errs...))
	}
	return n, nil
}
