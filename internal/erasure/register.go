// Package erasure keeps GDPR erasures (DELETE /subjects/{id}) from being undone by a restore.
//
// The audit ledger cannot remember an erasure across a restore: it lives in the database that the
// restore rolls back. So every erasure is also recorded in the Register, one small object per
// erasure in the region's backup bucket (versioned, Object Lock COMPLIANCE, KMS-encrypted,
// replicated to the standby region), written before the API erases anything. The objects hold
// only IDs, the time and the request ID: no personal data.
//
// After a database was brought back to an earlier state (a logical backup restored by
// internal/backup, which calls Reapply on its staging collections before switching them in; or an
// Atlas snapshot restore, after which `caro gdpr reapply` runs), every registered erasure is
// applied again with Apply: the same code the API runs, so "erase this subject in this database"
// has one implementation.
package erasure

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/strictjson"
	"github.com/carohealth/platform/internal/tenancy"
)

// Prefix is where the register's objects live in the backup bucket:
// erasures/<tenant>/<patient id>.json for a subject's erasure, erasures/<tenant>/tenant.json for a
// whole tenant's (its offboarding, `caro tenant delete`).
const Prefix = "erasures/"

// tenantObject is the object name of a tenant-level entry in the tenant's folder. It can never be a
// patient's (patient IDs are 32 hex characters).
const tenantObject = "tenant"

// ScopeTenant is Erasure.Scope of a tenant-level entry: every subject and document of the tenant
// is erased, not one patient. The empty scope is one subject's erasure (every entry written before
// tenant-level entries existed).
const ScopeTenant = "tenant"

// Format names the register object's shape and version.
const Format = "caro-erasure/v1"

// maxObjectBytes bounds what List reads of one register object (they are about 200 bytes).
const maxObjectBytes = 4 << 10

// listWorkers is how many register objects List reads at once.
const listWorkers = 16

// Erasure is one registered erasure: who was erased in which tenant, when, by which request. A
// tenant-level entry (Scope ScopeTenant) erases the whole tenant and names no patient.
type Erasure struct {
	// Format is Format.
	Format string `json:"format"`
	// Scope is "" for one subject's erasure, ScopeTenant for a whole tenant's.
	Scope string `json:"scope,omitempty"`
	// TenantID is the tenant the patient belongs to (random, not personal).
	TenantID string `json:"tenantId"`
	// PatientID is the erased patient's random ID (32 lowercase hex characters); empty in a
	// tenant-level entry.
	PatientID string `json:"patientId,omitempty"`
	// ErasedAt is when the erasure was requested (the API's clock, UTC).
	ErasedAt time.Time `json:"erasedAt"`
	// RequestID is the API request (or the `caro tenant delete` run) that asked for it, to find its
	// audit event.
	RequestID string `json:"requestId,omitempty"`
	// EventID is the audit event of a tenant's offboarding (its one tenant:offboard event).
	EventID string `json:"eventId,omitempty"`
	// Counts, in a tenant-level entry, is what the offboarding removed (patients, notes, subjects,
	// users, ...): numbers only. The offboarding's audit event has the SHA-256 of its summary.
	Counts map[string]int64 `json:"counts,omitempty"`
}

// IsTenant reports whether e erases a whole tenant.
func (e Erasure) IsTenant() bool { return e.Scope == ScopeTenant }

// Key is e's register object key.
func (e Erasure) Key() string {
	if e.IsTenant() {
		return Key(e.TenantID, "")
	}
	return Key(e.TenantID, e.PatientID)
}

var patientIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Validate checks the IDs, so a register key can never be steered outside its tenant's folder.
func (e Erasure) Validate() error {
	if !tenancy.ValidTenantID(e.TenantID) {
		return fmt.Errorf("erasure: tenant ID %q is not valid", e.TenantID)
	}
	switch e.Scope {
	case "":
	case ScopeTenant:
		if e.PatientID != "" {
			return fmt.Errorf("erasure: the tenant-level entry of %s names patient %q: a tenant-level entry names no patient", e.TenantID, e.PatientID)
		}
		if e.ErasedAt.IsZero() {
			return errors.New("erasure: ErasedAt is required")
		}
		return nil
	default:
		return fmt.Errorf("erasure: scope %q is not known (want empty or %q): this register was written by a newer caro; use that version", e.Scope, ScopeTenant)
	}
	if !patientIDPattern.MatchString(e.PatientID) {
		return fmt.Errorf("erasure: patient ID %q is not 32 lowercase hex characters", e.PatientID)
	}
	if e.ErasedAt.IsZero() {
		return errors.New("erasure: ErasedAt is required")
	}
	return nil
}

// Key is the register object key of a patient's erasure, or of the tenant-level entry when
// patientID is empty (erasures/<tenant>/tenant.json).
func Key(tenantID, patientID string) string {
	if patientID == "" {
		patientID = tenantObject
	}
	return Prefix + tenantID + "/" + patientID + ".json"
}

// Recorder records erasures; the API needs only this.
type Recorder interface {
	// Record stores e durably before returning nil. Recording the same erasure again is harmless.
	Record(ctx context.Context, e Erasure) error
}

// Source lists registered erasures; restores need only this.
type Source interface {
	// List returns the erasures recorded at or after since (all with the zero time), ordered by
	// tenant and patient. An error means the register could not be read completely.
	List(ctx context.Context, since time.Time) ([]Erasure, error)
}

// Register is the erasure register in an object store (the region's backup bucket).
type Register struct {
	store objstore.Store
}

// NewRegister returns the register kept in store.
func NewRegister(store objstore.Store) *Register { return &Register{store: store} }

// Record writes the erasure's object. A retried erasure writes it again: in the versioned,
// locked bucket the first version stays, and List reads the newest, which names the same subject.
func (r *Register) Record(ctx context.Context, e Erasure) error {
	e.Format = Format
	e.ErasedAt = e.ErasedAt.UTC()
	if err := e.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, e.Key(), bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("record erasure in the register: %w", err)
	}
	return nil
}

// List reads every register object (a restore must not miss one) and returns those erased at or
// after since. An object that cannot be read or does not match its key fails the whole list.
func (r *Register) List(ctx context.Context, since time.Time) ([]Erasure, error) {
	objs, err := r.store.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("list the erasure register: %w", err)
	}
	var keys []string
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
	}
	out := make([]Erasure, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, listWorkers)
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = r.read(ctx, k)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, e := range out {
		if !e.ErasedAt.Before(since) {
			kept = append(kept, e)
		}
	}
	sortBySubject(kept)
	return kept, nil
}

// sortBySubject orders erasures by tenant, then patient: the order Source.List promises. A
// tenant-level entry (no patient) comes first in its tenant.
func sortBySubject(es []Erasure) {
	slices.SortFunc(es, func(a, b Erasure) int {
		return cmp.Or(strings.Compare(a.TenantID, b.TenantID), strings.Compare(a.PatientID, b.PatientID))
	})
}

func (r *Register) read(ctx context.Context, key string) (Erasure, error) {
	rc, err := r.store.Get(ctx, key)
	if err != nil {
		return Erasure{}, fmt.Errorf("read erasure register object %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxObjectBytes+1))
	if err != nil {
		return Erasure{}, fmt.Errorf("read erasure register object %s: %w", key, err)
	}
	if len(b) > maxObjectBytes {
		return Erasure{}, fmt.Errorf("erasure register object %s is larger than %d bytes", key, maxObjectBytes)
	}
	// Only the form Record writes: names exact, each once, none unknown (strictjson).
	var e Erasure
	if err := strictjson.Decode(b, &e); err != nil {
		return Erasure{}, fmt.Errorf("erasure register object %s is not an erasure register entry as caro writes it: %w", key, err)
	}
	if e.Format != Format {
		return Erasure{}, fmt.Errorf("erasure register object %s has format %q, want %q", key, e.Format, Format)
	}
	if err := e.Validate(); err != nil {
		return Erasure{}, fmt.Errorf("erasure register object %s: %w", key, err)
	}
	if e.Key() != key {
		return Erasure{}, fmt.Errorf("erasure register object %s names another subject (%s)", key, e.Key())
	}
	return e, nil
}
