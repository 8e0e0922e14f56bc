package aws

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/regions"
)

// Config is everything the AWS provider takes from outside AWS, resolved by the caller's
// configuration. New builds the provider from it.
type Config struct {
	Regions regions.Set
	// ARCEndpoints are the Route 53 ARC cluster's endpoints, "region=url,..." (empty: no ARC).
	ARCEndpoints string
	// AssemblyDir is a synthesized cloud assembly to deploy instead of the published release
	// (empty: the release).
	AssemblyDir string
	// Release names the release to deploy (empty: the one the primary runs); ReleaseBucket is the
	// target region's release bucket.
	Release, ReleaseBucket string
	// MaxBackupAge is the recovery point objective the newest backup is held to.
	MaxBackupAge time.Duration
	// PeerBackupKeyArn is the target's replica of the source's backup key (setting peer-backup-key).
	PeerBackupKeyArn string
	// OriginSecret is sent as X-Caro-Origin-Verify on regional /health requests.
	OriginSecret string
	// Restore are the restore steps' settings.
	Restore RestoreSettings
	// Atlas, when set, enables --restore atlas with these Admin API credentials; AtlasBaseURL
	// points the client elsewhere (tests).
	Atlas        *atlas.Credentials
	AtlasBaseURL string
	// SettingLines describe the resolved settings, one line each with its source (secrets masked),
	// for the plan's checks.
	SettingLines []string
	// SettingWarnings are overrides that differ from the platform's own values, SettingProblems
	// settings that contradict the target region (config.Config.Shadowed, ConfigFrom).
	SettingWarnings, SettingProblems []string
}

// ParseARCEndpoints parses "region=url,..." into routing controls (nil for an empty value).
func ParseARCEndpoints(v string) (*RoutingControls, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	arc := &RoutingControls{}
	for _, part := range strings.Split(v, ",") {
		region, url, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || region == "" || url == "" {
			return nil, fmt.Errorf("ARC endpoint %q is not region=url", part)
		}
		arc.Endpoints = append(arc.Endpoints, ClusterEndpoint{URL: url, Region: region})
	}
	return arc, nil
}

// ClientsFromSDK returns a ClientsFor that loads the default AWS configuration (the operator's
// credentials) per region, once each; arc, when set, adds the ARC routing controls.
func ClientsFromSDK(arc *RoutingControls) func(ctx context.Context, region string) (*Clients, error) {
	cache := map[string]*Clients{}
	return func(ctx context.Context, region string) (*Clients, error) {
		if c, ok := cache[region]; ok {
			return c, nil
		}
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, fmt.Errorf("AWS configuration for %s: %w", region, err)
		}
		c := &Clients{
			CloudFormation: cfn.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg), KMS: kms.NewFromConfig(cfg),
			Cognito: cip.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg), StepFunctions: sfn.NewFromConfig(cfg),
			// Route 53 is a global service whose control plane is in us-east-1.
			Route53: route53.NewFromConfig(cfg, func(o *route53.Options) { o.Region = "us-east-1" }),
		}
		if arc != nil {
			a := *arc
			a.Credentials = cfg.Credentials
			c.ARC = &a
		}
		cache[region] = c
		return c, nil
	}
}

// New builds the AWS provider from c: SDK clients per region, the logical-backup restores, and the
// Atlas snapshot restores when credentials are given.
func New(ctx context.Context, c Config) (*Provider, error) {
	arc, err := ParseARCEndpoints(c.ARCEndpoints)
	if err != nil {
		return nil, err
	}
	settings := c.Restore
	r := Restores{Settings: &settings}
	p := &Provider{Regions: c.Regions, ClientsFor: ClientsFromSDK(arc), Catalog: r, Restorer: r, Identities: r,
		AssemblyDir: c.AssemblyDir, Resolver: net.DefaultResolver, OriginSecret: c.OriginSecret, SettingLines: c.SettingLines, SettingWarnings: c.SettingWarnings, SettingProblems: c.SettingProblems,
		Release: c.Release, ReleaseBucket: c.ReleaseBucket, MaxBackupAge: c.MaxBackupAge, PeerBackupKeyArn: c.PeerBackupKeyArn, LedgerReplicaBucket: c.Restore.LedgerReplicaBucket}
	if c.Atlas != nil {
		client, err := atlas.NewClient(ctx, *c.Atlas, c.AtlasBaseURL, nil)
		if err != nil {
			return nil, err
		}
		s := &Snapshots{Settings: &settings, Regions: c.Regions, Atlas: atlas.NewRestorer(client)}
		p.AtlasCatalog, p.AtlasRestorer = s, s
	}
	return p, nil
}
