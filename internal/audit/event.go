// Package audit defines the audit event that every data change produces, shared by the API handlers
// (producer), the audit writer and the ledger (consumers). An event holds no personal data: who acted is
// a pseudonymous subject ID, what changed is named by resource type and ID, and the state before and
// after is present only as hashes.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Interface is the channel through which a change was made (the security page promises the audit
// record names it).
type Interface string

// The interfaces a change can come through.
const (
	InterfaceAPI Interface = "api"
	InterfaceCLI Interface = "cli"
	InterfaceJob Interface = "job"
)

// Event is one audited data change. ID is unique per change, so a consumer recognises an event
// delivered twice.
type Event struct {
	// ID is a random identifier of this event (32 hex characters); the deduplication key.
	ID string `json:"id" bson:"id"`
	// Time is when the change was made, in UTC.
	Time time.Time `json:"time" bson:"time"`
	// Actor is the subject (Cognito sub) of the principal that made the change.
	Actor string `json:"actor" bson:"actor"`
	// TenantID is the tenant whose data changed.
	TenantID string `json:"tenantId" bson:"tenantId"`
	// Action is the access-control action performed, for example "patient:write".
	Action string `json:"action" bson:"action"`
	// ResourceType is the kind of resource changed, for example "patient" or "note".
	ResourceType string `json:"resourceType" bson:"resourceType"`
	// ResourceID is the random, unguessable ID of the resource changed.
	ResourceID string `json:"resourceId" bson:"resourceId"`
	// SubjectRef is a keyed hash naming the data subject (patient) the change concerns, empty when
	// none. Erasing the subject destroys the key, so the reference can no longer be linked to anyone.
	SubjectRef string `json:"subjectRef,omitempty" bson:"subjectRef,omitempty"`
	// Interface is how the change was made.
	Interface Interface `json:"interface" bson:"interface"`
	// RequestID correlates the event with the request that caused it.
	RequestID string `json:"requestId" bson:"requestId"`
	// BeforeHash and AfterHash are SHA-256-based hex digests of the resource state before and after
	// the change; empty for a create (before) or a delete (after). For a resource about a data
	// subject they are keyed (HMAC-SHA256 under the subject key, SubjectKey.StateHash), so a small
	// record cannot be confirmed by guessing and erasure makes them unlinkable.
	BeforeHash string `json:"beforeHash,omitempty" bson:"beforeHash,omitempty"`
	AfterHash  string `json:"afterHash,omitempty" bson:"afterHash,omitempty"`
}

// NewEventID returns a random event ID.
func NewEventID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("audit: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// Validate reports the first missing or malformed field, so a bad event is refused loudly rather than
// written half-empty into the ledger.
func (e Event) Validate() error {
	var missing []string
	for name, v := range map[string]string{
		"id": e.ID, "actor": e.Actor, "tenantId": e.TenantID, "action": e.Action,
		"resourceType": e.ResourceType, "resourceId": e.ResourceID, "requestId": e.RequestID,
	} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if e.Time.IsZero() {
		missing = append(missing, "time")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("invalid audit event %q: missing %s", e.ID, strings.Join(missing, ", "))
	}
	switch e.Interface {
	case InterfaceAPI, InterfaceCLI, InterfaceJob:
	default:
		return fmt.Errorf("invalid audit event %q: interface %q is not one of api, cli, job", e.ID, e.Interface)
	}
	if e.BeforeHash == "" && e.AfterHash == "" {
		return errors.New("invalid audit event " + e.ID + ": neither beforeHash nor afterHash is set")
	}
	return nil
}
