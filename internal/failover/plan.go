// Package failover is the region-failover engine: it turns a survey of two regions into a plan, and
// executes a plan's steps with a journal (so an interrupted apply resumes) and a lock (so two people
// never apply at once).
//
// The engine knows steps, plans and journals, never clouds: everything cloud-specific is behind the
// Provider, Step, Journal and Lock interfaces, implemented in internal/providers/*.
package failover

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carohealth/platform/internal/strictjson"
)

// PlanVersion is the plan file format version; apply refuses plans of another version.
const PlanVersion = 1

// DefaultPlanTTL is how long a plan stays valid: the facts it was made from (backup age, stack state,
// region health) go stale, so an old plan must be made again rather than applied blindly.
const DefaultPlanTTL = 2 * time.Hour

// Kinds of plan.
const (
	KindFailover = "failover"
	KindFailback = "failback"
)

// Plan is what `caro failover apply` executes. It is written to a JSON file by `caro failover plan`
// and protected by a hash over its content and a check of the file's exact bytes, so an edited or
// truncated plan file is refused. The hash is not a signature: it catches edits and damage, not
// someone who rewrites the file and its hash.
type Plan struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Provider  string    `json:"provider"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Restore   string    `json:"restore"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Backup is the backup or snapshot the restore step will use; its age is the RPO.
	Backup BackupRef `json:"backup"`
	// Settings are provider-specific inputs (endpoints, stack names, environment file), fixed at plan
	// time so apply does exactly what was reviewed.
	Settings map[string]string `json:"settings,omitempty"`
	// Checks lists what the plan verified without changing anything.
	Checks []string `json:"checks,omitempty"`
	// Warnings are facts on-call should read before applying.
	Warnings []string      `json:"warnings,omitempty"`
	Steps    []PlannedStep `json:"steps"`
	// ExpectedSeconds is the sum of the steps' expected durations: the planned RTO.
	ExpectedSeconds float64 `json:"expected_seconds"`
	// Hash is the hex SHA-256 of the plan with Hash empty.
	Hash string `json:"hash"`

	// edited is set by ReadPlan when the file's bytes are not exactly what WritePlan writes for the
	// plan they decode to: the hash covers the decoded plan, so it cannot see such an edit itself.
	edited bool
}

// BackupRef names the backup or snapshot a plan restores.
type BackupRef struct {
	ID       string    `json:"id"`
	Location string    `json:"location"`
	TakenAt  time.Time `json:"taken_at"`
	// AgeSeconds is the backup's age when the plan was made (the RPO if the source died then).
	AgeSeconds float64 `json:"age_seconds"`
	// Records is the number of records the backup holds, when known; restore is verified against it.
	Records int64 `json:"records,omitempty"`
	// Checksum is the backup's content checksum, when known.
	Checksum string `json:"checksum,omitempty"`
}

// PlannedStep is one step of a plan as shown to the operator.
type PlannedStep struct {
	Name string `json:"name"`
	// Action says what the step will do, in words on-call can check.
	Action          string  `json:"action"`
	ExpectedSeconds float64 `json:"expected_seconds"`
}

// ComputeHash returns the plan's content hash (the Hash field is ignored).
func (p *Plan) ComputeHash() (string, error) {
	c := *p
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("hash plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Seal sets the plan's hash; call it after the last change.
func (p *Plan) Seal() error {
	h, err := p.ComputeHash()
	if err != nil {
		return err
	}
	p.Hash = h
	return nil
}

// StepNames lists the plan's step names in order.
func (p *Plan) StepNames() []string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name
	}
	return names
}

// Errors that Validate returns; the messages say what to do.
var (
	ErrPlanEdited  = errors.New("the plan file was changed after it was made (hash mismatch): run `caro failover plan` again and apply the new file")
	ErrPlanExpired = errors.New("the plan is stale (older than its expiry): run `caro failover plan` again so it reflects the regions as they are now")
)

// Validate checks the version, the hash and the step list. With checkExpiry it also refuses a plan
// past its expiry; resuming an apply that already started skips that check, because the journal,
// not the clock, decides what is left to do.
func (p *Plan) Validate(now time.Time, checkExpiry bool) error {
	if p.Version != PlanVersion {
		return fmt.Errorf("plan version %d is not supported (this caro reads version %d): make the plan with this caro", p.Version, PlanVersion)
	}
	h, err := p.ComputeHash()
	if err != nil {
		return err
	}
	if p.Hash == "" || h != p.Hash || p.edited {
		return ErrPlanEdited
	}
	if p.ID == "" || p.To == "" || len(p.Steps) == 0 {
		return errors.New("the plan has no id, target region or steps: run `caro failover plan` again")
	}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if s.Name == "" || seen[s.Name] {
			return fmt.Errorf("the plan has an empty or repeated step name %q: run `caro failover plan` again", s.Name)
		}
		seen[s.Name] = true
	}
	if checkExpiry && !p.ExpiresAt.IsZero() && now.After(p.ExpiresAt) {
		return fmt.Errorf("%w (made %s, expired %s)", ErrPlanExpired, p.CreatedAt.Format(time.RFC3339), p.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// WritePlan writes the sealed plan to path atomically (temp file + rename), so a crash never leaves a
// half-written plan.
func WritePlan(path string, p *Plan) error {
	if p.Hash == "" {
		if err := p.Seal(); err != nil {
			return err
		}
	}
	b, err := encodePlan(p)
	if err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return writeFileAtomic(path, b)
}

// encodePlan is a plan file's exact bytes.
func encodePlan(p *Plan) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	return append(b, '\n'), err
}

// ReadPlan reads a plan file. Its field names must be exactly the plan's, each given once
// (strictjson); it is not validated otherwise: call Validate, which also refuses a file whose bytes
// are not exactly those WritePlan wrote.
func ReadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	var p Plan
	if err := strictjson.Decode(b, &p); err != nil {
		return nil, fmt.Errorf("read plan %s: not a caro failover plan as `caro failover plan` writes it (%v): make the plan again with `caro failover plan -o %s`", path, err, path)
	}
	canonical, err := encodePlan(&p)
	p.edited = err != nil || !bytes.Equal(b, canonical)
	return &p, nil
}

// NewPlanID returns a sortable, unique plan id: UTC time plus random suffix.
func NewPlanID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
