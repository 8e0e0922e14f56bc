// Package deploycheck reports, before `cdk deploy`, what would make the first deploy fail or the
// platform misbehave in the target account: the CDK bootstrap of each region, the Lambda
// concurrency quota against what the stacks reserve, the SNS SMS sandbox and spend limit (Cognito's
// MFA codes), an existing GitLab OIDC provider the edge stack would collide with, MongoDB's
// CloudFormation extensions and their credentials, the Atlas key role's authorization, and the
// hosted zone. It only reads. Each AWS API is a small interface over the SDK v2 client, so tests
// run against httptest fakes and the CLI (cmd/caro deploy check) only wires and renders.
package deploycheck

import (
	"context"
	"fmt"
	"sort"
)

// Status is a finding's verdict.
type Status string

const (
	// OK: nothing to do.
	OK Status = "ok"
	// Warning: the deploy goes through, something will misbehave or may fail later.
	Warning Status = "warning"
	// Blocker: the deploy would fail, or the platform would not work.
	Blocker Status = "blocker"
	// Unknown: the check could not run (credentials, permissions, network); treated as a blocker.
	Unknown Status = "unknown"
)

// Finding is one check's result in one region ("global" for account-wide checks).
type Finding struct {
	Check  string `json:"check"`
	Region string `json:"region"`
	Status Status `json:"status"`
	// Detail says what was found and why it matters; Fix what to do (empty when OK).
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every finding, in the order the checks ran.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Blocked reports whether any finding is a blocker or could not be checked.
func (r Report) Blocked() bool {
	for _, f := range r.Findings {
		if f.Status == Blocker || f.Status == Unknown {
			return true
		}
	}
	return false
}

// Region is one platform region as its definition describes it.
type Region struct {
	Name         string
	Domain       string
	HostedZoneID string
	// Atlas is the region's Atlas project and cloud-provider access (nil: no Atlas settings are
	// declared for the region).
	Atlas *AtlasAccess
}

// AtlasAccess is a project's cloud-provider access role as the region definition records it.
type AtlasAccess struct {
	ProjectID          string
	RoleID             string
	ExternalID         string
	AtlasAWSAccountARN string
}

// Options configure a check run.
type Options struct {
	// Assembly is the synthesized app (ReadAssembly).
	Assembly Assembly
	// Regions are the platform regions to check (all, or the one --region names); OnlyRegion, when
	// set, limits the per-region checks (bootstrap, quotas, SMS, extensions) to that region.
	Regions    []Region
	OnlyRegion string
	// GitLabURL is the OIDC issuer the edge stack's deploy roles trust (https://gitlab.com).
	GitLabURL string
	// EdgeStack is the stack that creates the OIDC provider ("CaroEdge").
	EdgeStack string
	// AtlasCredentialsSecret is the secret with the Atlas Admin API key that MongoDB's extensions
	// read in every region ("cfn/atlas/profile/default").
	AtlasCredentialsSecret string
	// Clients reach the AWS APIs and Atlas.
	Clients Clients
}

// Validate says what is missing before anything is called.
func (o *Options) Validate() error {
	switch {
	case len(o.Assembly.Stacks) == 0:
		return fmt.Errorf("deploy check: no synthesized stacks: synthesize first (make synth)")
	case len(o.Regions) == 0:
		return fmt.Errorf("deploy check: no platform region to check")
	case o.Clients == nil:
		return fmt.Errorf("deploy check: no AWS clients")
	case o.EdgeStack == "" || o.GitLabURL == "" || o.AtlasCredentialsSecret == "":
		return fmt.Errorf("deploy check: EdgeStack, GitLabURL and AtlasCredentialsSecret are required")
	}
	return nil
}

// Run runs every check and returns the report; it changes nothing.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	var r Report
	add := func(fs ...Finding) { r.Findings = append(r.Findings, fs...) }
	for _, region := range o.deployRegions() {
		add(checkBootstrap(ctx, o, region))
	}
	for _, region := range o.Regions {
		if o.OnlyRegion != "" && region.Name != o.OnlyRegion {
			continue
		}
		add(checkConcurrency(ctx, o, region.Name))
		add(checkSMS(ctx, o, region.Name)...)
		add(checkExtensions(ctx, o, region)...)
		add(checkHostedZone(ctx, o, region))
	}
	add(checkOIDCProvider(ctx, o))
	return r, nil
}

// deployRegions are the regions of the synthesized stacks (limited to OnlyRegion when set), sorted.
func (o *Options) deployRegions() []string {
	seen := map[string]bool{}
	for _, s := range o.Assembly.Stacks {
		if o.OnlyRegion == "" || s.Region == o.OnlyRegion {
			seen[s.Region] = true
		}
	}
	var out []string
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// stacksIn are the synthesized stacks of region.
func (o *Options) stacksIn(region string) []Stack {
	var out []Stack
	for _, s := range o.Assembly.Stacks {
		if s.Region == region {
			out = append(out, s)
		}
	}
	return out
}

// unknown is the finding of a check that could not run.
func unknown(check, region, what string, err error) Finding {
	return Finding{Check: check, Region: region, Status: Unknown,
		Detail: fmt.Sprintf("could not %s: %v", what, err),
		Fix:    "run with the platform engineer's credentials for this account (read access to the API named above), then check again"}
}
