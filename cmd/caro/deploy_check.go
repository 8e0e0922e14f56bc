package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/carohealth/platform/internal/deploycheck"
)

// deployCheckOptions are the flags of caro deploy check.
type deployCheckOptions struct {
	region, output, cdkOut, gitlabURL, atlasURL string
	// clients builds the API clients (tests inject fakes); nil: the SDK's default credentials.
	clients func(ctx context.Context, atlasURL string) (deploycheck.Clients, error)
}

func newDeployCheckCmd(streams IOStreams, clients func(context.Context, string) (deploycheck.Clients, error)) *cobra.Command {
	o := &deployCheckOptions{clients: clients}
	cmd := &cobra.Command{
		Use:   "check [--region <region>] [--cdk-out cdk.out] [-o json]",
		Short: "Report what would make the first deploy fail or the platform misbehave (read-only)",
		Long: `Reads the synthesized app (--cdk-out, written by make synth) and, with your AWS credentials, the
target account, changing nothing: the CDK bootstrap of every region, the Lambda concurrency quota
against what the stacks reserve, the SNS SMS sandbox and spend limit (Cognito's MFA codes), MongoDB's
CloudFormation extensions, their Atlas credentials and the Atlas key role, the hosted zone, and an
existing GitLab OIDC provider the edge stack would collide with. Each finding says what to do.
Exit status 0: nothing blocks; 2: a blocker, or a check that could not run; 1: the check itself
could not start (no cloud assembly, bad flags).`,
		Example: `  make synth && caro deploy check
  caro deploy check --region eu-central-1 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			report, err := o.run(cmd)
			if err != nil {
				return err
			}
			if err := renderDeployCheck(streams, o.output, report); err != nil {
				return err
			}
			if report.Blocked() {
				return &exitError{code: 2, err: fmt.Errorf("deploy check: blockers found: fix them (each says how), then run caro deploy check again before cdk deploy")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.region, "region", "", "check only this platform region (and the account-wide checks)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&o.cdkOut, "cdk-out", "cdk.out", "the synthesized cloud assembly (make synth)")
	f.StringVar(&o.gitlabURL, "gitlab-url", "https://gitlab.com", "the GitLab OIDC issuer the deploy roles trust (the app's gitlabUrl context)")
	f.StringVar(&o.atlasURL, "atlas-url", "https://cloud.mongodb.com", "the Atlas Admin API")
	return cmd
}

// run validates the flags, reads the assembly and the region definitions, and runs the checks.
func (o *deployCheckOptions) run(cmd *cobra.Command) (deploycheck.Report, error) {
	if err := foValidateOutput(o.output); err != nil {
		return deploycheck.Report{}, err
	}
	cfg, err := loadConfig(cmd.Context(), cmd, "", true)
	if err != nil {
		return deploycheck.Report{}, err
	}
	if o.region != "" {
		if _, err := cfg.Regions().Get(o.region); err != nil {
			return deploycheck.Report{}, err
		}
	}
	asm, err := deploycheck.ReadAssembly(o.cdkOut)
	if err != nil {
		return deploycheck.Report{}, err
	}
	var targets []deploycheck.Region
	for _, d := range cfg.Regions().All() {
		r := deploycheck.Region{Name: d.Region, Domain: d.Domain, HostedZoneID: d.HostedZoneID}
		if ka := d.Atlas.KeyAccess; ka != nil {
			r.Atlas = &deploycheck.AtlasAccess{ProjectID: d.Atlas.ProjectID, RoleID: ka.RoleID, ExternalID: ka.ExternalID, AtlasAWSAccountARN: ka.AtlasAWSAccountARN}
		}
		targets = append(targets, r)
	}
	newClients := o.clients
	if newClients == nil {
		newClients = sdkDeployCheckClients
	}
	clients, err := newClients(cmd.Context(), o.atlasURL)
	if err != nil {
		return deploycheck.Report{}, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "checking %d stacks of %s against the account...\n", len(asm.Stacks), o.cdkOut)
	return deploycheck.Run(cmd.Context(), deploycheck.Options{
		Assembly: asm, Regions: targets, OnlyRegion: o.region, GitLabURL: o.gitlabURL, EdgeStack: "CaroEdge",
		AtlasCredentialsSecret: "cfn/atlas/profile/default", Clients: clients,
	})
}

// sdkDeployCheckClients are the AWS SDK's clients with the default credential chain.
func sdkDeployCheckClients(ctx context.Context, atlasURL string) (deploycheck.Clients, error) {
	return deploycheck.NewSDKClients(ctx, atlasURL)
}

// renderDeployCheck writes the report: a table with each fix under its finding, or JSON.
func renderDeployCheck(streams IOStreams, output string, r deploycheck.Report) error {
	if output == "json" {
		return writeJSON(streams.Out, map[string]any{"blocked": r.Blocked(), "findings": r.Findings})
	}
	w := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATUS\tCHECK\tREGION\tDETAIL")
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Status, f.Check, f.Region, f.Detail)
		if f.Fix != "" {
			fmt.Fprintf(w, "\t\t\tfix: %s\n", f.Fix)
		}
	}
	return w.Flush()
}
