package erasure

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
)

// Summary is what Reapply did (part of the restore report and the `caro gdpr reapply` output).
type Summary struct {
	// Registered is how many erasures the register listed (after the since filter).
	Registered int `json:"registered"`
	// Applied is how many were applied (all of them unless an error stopped the run).
	Applied int `json:"applied"`
	// Patients is how many patients still held personal data in the database and were erased.
	Patients int `json:"patientsErased"`
	// Notes is how many notes still had their text and lost it.
	Notes int64 `json:"notesErased"`
	// Tenants is how many tenant-level entries (offboarded tenants) were applied; TenantsErased how
	// many of them still had data in the database, and TenantDocuments how many documents and
	// subject keys of theirs were removed.
	Tenants         int   `json:"tenants,omitempty"`
	TenantsErased   int   `json:"tenantsErased,omitempty"`
	TenantDocuments int64 `json:"tenantDocumentsErased,omitempty"`
	// Since is the since filter used (zero: every registered erasure).
	Since time.Time `json:"since,omitzero"`
	// AuditEvents is how many subject:erase events were written (one per patient erased, in the
	// patient's tombstone; see Apply), plus one tenant:offboard event per tenant erased.
	AuditEvents int `json:"auditEvents"`
	// Events locates the events written, for inline delivery (audit.DeliverWritten).
	Events []audit.Written `json:"-"`
}

// ReapplyOptions configure Reapply.
type ReapplyOptions struct {
	// Source is the register. Required.
	Source Source
	// DB is the database to apply the erasures to, Collections its collection names (default
	// Live()).
	DB          *mongo.Database
	Collections Collections
	// Since limits the run to erasures recorded at or after it (zero: all of them, the default
	// of restores; see docs/backup-format.md).
	Since time.Time
	// Now is the clock for the tombstones' updatedAt (default time.Now).
	Now func() time.Time
	// Progress, when set, receives one line per patient erased and a summary.
	Progress func(string)
	// Origin is who runs the re-application (operator or job, interface, request ID): every
	// patient erased gets a subject:erase event of this origin. Required.
	Origin audit.Origin
}

// Reapply lists the register and applies every erasure to the database. It stops at the first
// error (the caller must not switch a restore in, or must run it again: applying is idempotent).
func Reapply(ctx context.Context, o ReapplyOptions) (Summary, error) {
	if o.Source == nil || o.DB == nil {
		return Summary{}, fmt.Errorf("erasure: Reapply needs a Source and a DB")
	}
	if err := o.Origin.Validate(); err != nil {
		return Summary{}, fmt.Errorf("erasure: Reapply: %w", err)
	}
	if o.Collections == (Collections{}) {
		o.Collections = Live()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	list, err := o.Source.List(ctx, o.Since)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Registered: len(list), Since: o.Since}
	offboarded := map[string]bool{}
	for _, e := range list {
		if e.IsTenant() {
			offboarded[e.TenantID] = true
		}
	}
	for _, e := range list {
		if !e.IsTenant() && offboarded[e.TenantID] {
			// The tenant-level entry (listed first in its tenant) removed the whole tenant.
			s.Applied++
			continue
		}
		r, err := Apply(ctx, o.DB, o.Collections, e, o.Now(), o.Origin)
		if err != nil {
			return s, err
		}
		s.Applied++
		if t := r.Tenant; t != nil {
			s.Tenants++
			if t.Changed() {
				s.TenantsErased++
				s.TenantDocuments += t.SubjectKeys + t.Patients + t.Notes
				progress(fmt.Sprintf("offboarding of tenant %s (request %s, %s) re-applied: %d subject keys shredded, %d patients and %d notes deleted",
					e.TenantID, e.RequestID, e.ErasedAt.Format(time.RFC3339), t.SubjectKeys, t.Patients, t.Notes))
			}
			if r.Event != nil {
				s.AuditEvents++
				s.Events = append(s.Events, *r.Event)
			}
			continue
		}
		if r.Patient || r.Notes > 0 {
			if r.Patient {
				s.Patients++
			}
			s.Notes += r.Notes
			if r.Event != nil {
				s.AuditEvents++
				s.Events = append(s.Events, *r.Event)
			}
			progress(fmt.Sprintf("erasure of %s/%s (request %s, %s) re-applied: patient erased %t, %d notes erased",
				e.TenantID, e.PatientID, e.RequestID, e.ErasedAt.Format(time.RFC3339), r.Patient, r.Notes))
		}
	}
	progress(fmt.Sprintf("%d registered erasures applied: %d patients and %d notes still held personal data and were erased", s.Applied, s.Patients, s.Notes))
	if s.Tenants > 0 {
		progress(fmt.Sprintf("%d offboarded tenants applied: %d still had data here (%d documents and subject keys removed)", s.Tenants, s.TenantsErased, s.TenantDocuments))
	}
	return s, nil
}

// Listed is a Source over erasures already read (a restore reads the register before it touches
// the target, and applies the list later).
type Listed []Erasure

// List returns the erasures at or after since.
func (l Listed) List(_ context.Context, since time.Time) ([]Erasure, error) {
	var out []Erasure
	for _, e := range l {
		if !e.ErasedAt.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}
