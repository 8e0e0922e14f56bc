package failover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Step is one idempotent unit of a failover. Check tells whether the step's effect is already in
// place (it is called before every Run, and is how a half-done step found after a crash is judged);
// Run makes it so and must be safe to repeat after a partial run.
type Step interface {
	Name() string
	Check(ctx context.Context) (done bool, err error)
	Run(ctx context.Context) error
}

// Decayer is implemented by steps whose effect can be lost after they completed (a region's API
// that stopped, a DNS name that moved back). On resume the engine checks such a step again with
// Check even though the journal records it done, and runs it again when its effect is gone.
type Decayer interface {
	Decays() bool
}

// Summarizer is implemented by steps that can say what they changed, for the report.
type Summarizer interface {
	Summary() string
}

// Progress is how long-running steps report progress lines (stack events, restore counts); the engine
// prefixes them with the step name on stderr.
type Progress func(format string, args ...any)

type progressKey struct{}

// WithProgress returns ctx carrying p; steps fetch it with ProgressFrom.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// ProgressFrom returns the progress reporter in ctx, or one that discards.
func ProgressFrom(ctx context.Context) Progress {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		return p
	}
	return func(string, ...any) {}
}

// Request is what the operator asked `caro failover plan` for.
type Request struct {
	From string
	To   string
	// Primary is the platform's home region; a plan towards it is a failback.
	Primary string
	Restore string
	// Settings are provider inputs copied into the plan.
	Settings map[string]string
	// Readiness asks the survey for every check even after a blocker (`caro failover readiness`);
	// a plan stops at the first blocker that makes the rest pointless.
	Readiness bool
}

// Survey is what a provider found out, without changing anything, to make a plan.
type Survey struct {
	Backup BackupRef
	// TargetHealthy says whether the target region's own services (KMS, storage, account access)
	// work; a failback towards an unhealthy old primary is refused.
	TargetHealthy bool
	TargetDetail  string
	// SourceHealthy is informative: a failover from a healthy region is allowed (drills), but warned.
	SourceHealthy bool
	SourceDetail  string
	Checks        []string
	Warnings      []string
	Steps         []PlannedStep
	Settings      map[string]string
	// Readiness are the structured checks (OK, Warn, Block add them, and their text to Checks and
	// Warnings): a plan is made only without blockers.
	Readiness []Check
}

// Provider implements failover for one kind of platform (AWS, local).
type Provider interface {
	// Name is written into plans so apply picks the same provider.
	Name() string
	// Survey inspects both regions and the backups without changing anything.
	Survey(ctx context.Context, req Request) (*Survey, error)
	// Steps builds the executable steps of a plan, in the plan's order.
	Steps(ctx context.Context, p *Plan) ([]Step, error)
}

// ErrTargetUnhealthy is returned by MakePlan when the target region is not healthy.
var ErrTargetUnhealthy = errors.New("target region is not healthy")

// MakePlan surveys through the provider and builds a sealed plan.
func MakePlan(ctx context.Context, prov Provider, req Request, now time.Time) (*Plan, error) {
	if req.To == "" {
		return nil, errors.New("no target region: pass --to <region>")
	}
	if req.From == req.To {
		return nil, fmt.Errorf("source and target are both %q: pass a different --to", req.To)
	}
	s, err := prov.Survey(ctx, req)
	if err != nil {
		return nil, err
	}
	if b := s.Blockers(); len(b) > 0 {
		return nil, &BlockedError{To: req.To, Blockers: b}
	}
	kind := KindFailover
	if req.Primary != "" && req.To == req.Primary {
		kind = KindFailback
	}
	if !s.TargetHealthy {
		if kind == KindFailback {
			return nil, fmt.Errorf("%w: failback to %s refused while the old primary is unhealthy (%s): wait until it recovers, then plan again", ErrTargetUnhealthy, req.To, s.TargetDetail)
		}
		return nil, fmt.Errorf("%w: %s cannot take over (%s): choose another --to region or fix it first", ErrTargetUnhealthy, req.To, s.TargetDetail)
	}
	warnings := append([]string(nil), s.Warnings...)
	if s.SourceHealthy {
		warnings = append(warnings, fmt.Sprintf("the source region %s is healthy (%s): this moves live traffic", req.From, s.SourceDetail))
	}
	settings := map[string]string{}
	for k, v := range req.Settings {
		settings[k] = v
	}
	for k, v := range s.Settings {
		settings[k] = v
	}
	b := s.Backup
	if !b.TakenAt.IsZero() {
		b.AgeSeconds = now.Sub(b.TakenAt).Seconds()
	}
	p := &Plan{
		Version:   PlanVersion,
		ID:        NewPlanID(now),
		Kind:      kind,
		Provider:  prov.Name(),
		From:      req.From,
		To:        req.To,
		Restore:   req.Restore,
		CreatedAt: now.UTC(),
		ExpiresAt: now.UTC().Add(DefaultPlanTTL),
		Backup:    b,
		Settings:  settings,
		Checks:    s.Checks,
		Warnings:  warnings,
		Steps:     s.Steps,
	}
	for _, st := range p.Steps {
		p.ExpectedSeconds += st.ExpectedSeconds
	}
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return p, nil
}

// StepFunc adapts functions to a Step; providers use it for small steps.
type StepFunc struct {
	StepName  string
	CheckFunc func(ctx context.Context) (bool, error)
	RunFunc   func(ctx context.Context) error
	// SummaryText is returned by Summary once Run or Check completed.
	SummaryText func() string
	// Decaying marks a step whose effect can be lost after it completed (see Decayer).
	Decaying bool
}

// Decays implements Decayer.
func (s *StepFunc) Decays() bool { return s.Decaying && s.CheckFunc != nil }

// Name implements Step.
func (s *StepFunc) Name() string { return s.StepName }

// Check implements Step; a nil CheckFunc means "never known to be done", so Run always runs.
func (s *StepFunc) Check(ctx context.Context) (bool, error) {
	if s.CheckFunc == nil {
		return false, nil
	}
	return s.CheckFunc(ctx)
}

// Run implements Step.
func (s *StepFunc) Run(ctx context.Context) error { return s.RunFunc(ctx) }

// Summary implements Summarizer.
func (s *StepFunc) Summary() string {
	if s.SummaryText == nil {
		return ""
	}
	return s.SummaryText()
}

type confirmedKey struct{}

// WithOperatorConfirmed returns ctx saying the operator confirmed the apply with --yes, which
// also accepts what a step would otherwise refuse to change without asking (such as a target
// database that changed since the plan: the restore keeps what it replaces).
func WithOperatorConfirmed(ctx context.Context) context.Context {
	return context.WithValue(ctx, confirmedKey{}, true)
}

// OperatorConfirmed reports whether the apply was confirmed with --yes.
func OperatorConfirmed(ctx context.Context) bool {
	v, _ := ctx.Value(confirmedKey{}).(bool)
	return v
}
