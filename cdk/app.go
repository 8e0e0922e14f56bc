package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/backupengine"
	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/constructs/identity"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/peershare"
	"github.com/carohealth/platform/constructs/roles"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/regions"
)

// PlatformApp is the synthesized set of stacks.
type PlatformApp struct {
	Regions   regions.Set
	Platforms []*PlatformStack
	Edge      awscdk.Stack
	// Replicas are the replication destinations per region (deployed first).
	Replicas []awscdk.Stack
}

// Stacks returns every stack of the app in deploy order.
func (pa *PlatformApp) Stacks() []awscdk.Stack {
	stacks := append([]awscdk.Stack{}, pa.Replicas...)
	stacks = append(stacks, pa.Edge)
	for _, p := range pa.Platforms {
		stacks = append(stacks, p.Stack)
	}
	return stacks
}

// contextString reads a CDK context value (-c key=value or cdk.json).
func contextString(app awscdk.App, key string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok {
		return v
	}
	return ""
}

// contextOr reads a CDK context value with a default.
func contextOr(app awscdk.App, key, def string) string {
	if v := contextString(app, key); v != "" {
		return v
	}
	return def
}

// account is the target AWS account: context "account", else CDK_DEFAULT_ACCOUNT (set by the CDK
// CLI from credentials when there are any). Without one the stacks are environment-agnostic in their
// account, so synth needs no credentials.
func account(app awscdk.App) *string {
	if a := contextString(app, "account"); a != "" {
		return jsii.String(a)
	}
	if a, ok := config.LookupEnv("CDK_DEFAULT_ACCOUNT"); ok {
		return jsii.String(a)
	}
	return nil
}

// NewPlatformApp adds every stack of the platform to app, with the nag packs applied. Region
// definitions come from the folder named by context "regionsDir" (default: the committed ones).
func NewPlatformApp(app awscdk.App) (*PlatformApp, error) {
	set, err := loadRegions(contextString(app, "regionsDir"))
	if err != nil {
		return nil, err
	}
	environment, err := loadEnvironment(contextString(app, "regionsDir"))
	if err != nil {
		return nil, err
	}
	version := contextString(app, "version")
	if version == "" {
		version = "dev"
	}
	acct := account(app)
	if err := synthesizable(set); err != nil {
		return nil, err
	}
	pa := &PlatformApp{Regions: set}
	primary := set.Primary()
	standby := ""
	if sb := set.Standbys(); len(sb) > 0 {
		standby = sb[0].Region
	}
	var apiRegions []string
	for _, def := range set.All() {
		apiRegions = append(apiRegions, def.Region)
		if len(set.All()) > 1 {
			// The replicas here are the peer's backups and checkpoints: kept by the peer's retention.
			source := primary
			if def.Primary {
				source, _ = set.Get(standby)
			}
			pa.Replicas = append(pa.Replicas, NewReplicaStack(app, "CaroReplica-"+def.Region, &ReplicaStackProps{
				StackProps:     awscdk.StackProps{Env: &awscdk.Environment{Account: acct}, TerminationProtection: jsii.Bool(true)},
				Region:         def.Region,
				RetentionYears: source.RetentionYears,
				Assets:         def.Region == standby,
			}))
		}
	}
	secretVersions, err := originSecretVersions(contextString(app, originSecretVersionContext), contextString(app, originSecretAcceptContext))
	if err != nil {
		return nil, err
	}
	pa.Edge = NewEdgeStack(app, "CaroEdge", &EdgeStackProps{
		OriginSecretVersion: contextString(app, originSecretVersionContext),
		StackProps: awscdk.StackProps{
			Env:                   &awscdk.Environment{Account: acct},
			TerminationProtection: jsii.Bool(true),
		},
		AppDomainName:       primary.AppDomain,
		APIDomainName:       primary.APIDomain,
		APIOriginDomainName: primary.APIOriginDomain(),
		HostedZoneID:        primary.HostedZoneID,
		HostedZoneName:      primary.Domain,
		AllowedCountries:    primary.ViewerCountries,
		StandbyRegion:       standby,
		APIRegions:          apiRegions,
		WebDir:              filepath.Join(gofunction.RepoRoot(), "web"),
		// Production signs in with Cognito, not the local runner's development issuer.
		WebConfig: map[string]interface{}{"apiBase": "/api", "tokenSource": "cognito"},
	})
	for _, def := range set.All() {
		peer := standby
		if !def.Primary {
			peer = primary.Region
		}
		ledgerKeys, err := peerLedgerPublicKeys(peer, acct, func(region string) string {
			return contextString(app, ledgerPublicKeysContext+region)
		})
		if err != nil {
			return nil, err
		}
		pa.Platforms = append(pa.Platforms, NewPlatformStack(app, "CaroPlatform-"+def.Region, &PlatformStackProps{
			StackProps: awscdk.StackProps{
				Env:                   &awscdk.Environment{Account: acct, Region: jsii.String(def.Region)},
				Description:           jsii.String(fmt.Sprintf("Caro platform in %s (primary: %t)", def.Region, def.Primary)),
				TerminationProtection: jsii.Bool(true),
			},
			Region:           def,
			PeerRegion:       peer,
			PeerBackupKeyArn: contextString(app, "backupKeyArn:"+peer),
			// With the override for this region's key, the peer's stack declares its replica.
			PeerHoldsBackupKeyReplica: contextString(app, "backupKeyArn:"+def.Region) != "",
			PeerLedgerPublicKeys:      ledgerKeys,
			Version:                   version,
			Environment:               environment,
			OriginSecretVersions:      secretVersions,
		}))
	}
	// The deploy and ops roles (GitLab OIDC) and the MFA on-call failover role are account-wide IAM:
	// they live in the edge stack. Resources whose IDs are generated per region are named by convention,
	// by a per-region pattern narrowed by a tag or alias, or, for the backup keys, by the exact ARNs the
	// backupKeyArn:<region> context already gives the platform stacks.
	edgeAccount := *pa.Edge.Account()
	var pools, backupBuckets, ledgerReplicas, ledgerBuckets, erasureBuckets, deployRegions, releaseBuckets []string
	connectionSecrets := map[string]string{}
	for _, def := range set.All() {
		pools = append(pools, fmt.Sprintf("arn:aws:cognito-idp:%s:%s:userpool/*", def.Region, edgeAccount))
		backupBuckets = append(backupBuckets, ReplicaBucketArn(replicaBackup, edgeAccount, def.Region))
		ledgerReplicas = append(ledgerReplicas, ReplicaBucketArn(replicaLedger, edgeAccount, def.Region))
		ledgerBuckets = append(ledgerBuckets, "arn:aws:s3:::"+LedgerBucketName(edgeAccount, def.Region))
		erasureBuckets = append(erasureBuckets, "arn:aws:s3:::"+OwnBackupBucketPattern(def.Region))
		deployRegions = append(deployRegions, def.Region)
		connectionSecrets[def.Region] = ConnectionSecretName(def.Region)
		releaseBuckets = append(releaseBuckets, "arn:aws:s3:::"+releaseBucketName(environment, edgeAccount, def.Region))
	}
	backupKeys, err := backupKeyArns(set, func(region string) string { return contextString(app, "backupKeyArn:"+region) })
	if err != nil {
		return nil, err
	}
	// Without every replica known from context, the on-call role names the replicas by the tag
	// the peer's stack gives them (constructs/peershare).
	onCallBackupKeys := backupKeys.replicas
	if len(onCallBackupKeys) < len(set.All()) {
		onCallBackupKeys = nil
	}
	access := roles.New(pa.Edge, "Roles", &roles.Props{
		Account:   edgeAccount,
		GitLabURL: contextOr(app, "gitlabUrl", "https://gitlab.com"),
		// IAM allows one OIDC provider per URL: an account that has one already passes its ARN
		// (caro deploy check finds it).
		ExistingProviderArn:       contextString(app, "gitlabOidcProviderArn"),
		ProjectPath:               contextOr(app, "gitlabProject", "carohealth/platform"),
		ProtectedBranches:         []string{contextOr(app, "gitlabDeployBranch", "main")},
		DeployRegions:             append(deployRegions, "us-east-1"),
		PlatformRegions:           apiRegions,
		HostedZoneID:              primary.HostedZoneID,
		UserPoolArns:              pools,
		UserPoolTagKey:            identity.PoolTagKey,
		UserPoolTagValue:          identity.PoolTagValue,
		BackupBucketArns:          backupBuckets,
		BackupKeyArns:             onCallBackupKeys,
		BackupKeyTagKey:           peershare.BackupKeyTagKey,
		BackupKeyTagValue:         peershare.BackupKeyTagValue,
		PeerParameterPrefix:       "/caro/peers/",
		RestoreEngineStateMachine: backupengine.PrestageStateMachineName,
		// Exact when every region's key is known; otherwise the roles' default (multi-Region keys
		// of the platform regions, under a backup's exact encryption context).
		BackupDataKeyArns: backupKeys.all,
		// The backup buckets above are the replica stacks' (ReplicaBucketName), under their key's alias.
		BackupBucketKeyAlias: replicaKeyAlias,
		// The failover's restore step recovers the audit ledger from the target's checkpoint
		// replica (the bucket the failover names by default), encrypted with the same key.
		LedgerReplicaBucketArns: ledgerReplicas,
		LedgerReplicaKeyAlias:   replicaKeyAlias,
		// On a failback also from the target's own checkpoint bucket (the platform stack's key).
		LedgerBucketArns:     ledgerBuckets,
		LedgerBucketKeyAlias: platformKeyAlias,
		// The restore step reads the erasure register in the target's own backup bucket too (its
		// API's erasures), encrypted with the multi-Region backup key.
		ErasureRegisterBucketArns: erasureBuckets,
		ErasureRegisterKeyAlias:   backupKeyAlias,
		// The failover reads the target's connection string and, for an Atlas snapshot restore,
		// the Atlas credentials the CloudFormation extensions use, in the target region.
		ConnectionSecretNames:      connectionSecrets,
		ConnectionSecretKeyAlias:   platformKeyAlias,
		AtlasCredentialsSecretName: AtlasCredentialsSecretName,
		// The plan reads the release the failover deploys; CloudFormation reads its template from
		// the URL the deploy step's change set names with the caller's permissions.
		ReleaseBucketArns: releaseBuckets,
		ReleasePrefix:     releasePrefix,
	})
	// The ARNs the pipeline's variables (DEPLOY_ROLE_ARN, OPS_ROLE_ARN) and on-call profiles name.
	for _, o := range []struct {
		name, description string
		role              awsiam.Role
	}{
		{"DeployRoleArn", "GitLab CI deploy role (DEPLOY_ROLE_ARN)", access.Deploy},
		{"OnCallRoleArn", "On-call failover role (MFA)", access.OnCall},
		{"OpsRoleArn", "GitLab CI scheduled jobs role: caro backup list and verify, caro audit verify (OPS_ROLE_ARN)", access.Ops},
	} {
		awscdk.NewCfnOutput(pa.Edge, jsii.String(o.name), &awscdk.CfnOutputProps{Value: o.role.RoleArn(), Description: jsii.String(o.description)})
	}

	// Deploy order only (no values cross stacks, so each region still deploys on its own): the
	// replicas first (S3 needs replication destinations), then the edge (it replicates assets to the
	// standby replica stack), then the regions (they resolve the edge's origin secret replica).
	for _, r := range pa.Replicas {
		pa.Edge.AddStackDependency(r, jsii.String("replication destinations must exist"))
	}
	for _, p := range pa.Platforms {
		p.AddStackDependency(pa.Edge, jsii.String("the origin secret replica must exist"))
	}
	nagcheck.Apply(app)
	return pa, nil
}

// backupKeys are the multi-Region backup keys known from the backupKeyArn:<region> context.
type backupKeys struct {
	// replicas are, per region whose peer's key is known, that key's replica in the region: the
	// key a failover to the region unwraps the peer's backups (and identity exports) with.
	replicas []string
	// all are every region's own key and every replica, when every region's key is known; nil
	// otherwise.
	all []string
}

// backupKeyArns derives the backup key ARNs from the backupKeyArn:<region> context (lookup) the
// way the platform stacks do: each region holds a replica of its peer's multi-Region key, with the
// primary's key ID in the region.
func backupKeyArns(set regions.Set, lookup func(region string) string) (backupKeys, error) {
	var out backupKeys
	primary := set.Primary().Region
	standby := ""
	if sb := set.Standbys(); len(sb) > 0 {
		standby = sb[0].Region
	}
	complete := true
	for _, def := range set.All() {
		if own := lookup(def.Region); own != "" {
			if _, err := replicaKeyArn(own, def.Region); err != nil {
				return backupKeys{}, fmt.Errorf("context backupKeyArn:%s: %w", def.Region, err)
			}
			out.all = append(out.all, own)
		} else {
			complete = false
		}
		peer := standby
		if !def.Primary {
			peer = primary
		}
		arn := lookup(peer)
		if peer == "" || arn == "" {
			complete = false
			continue
		}
		replica, err := replicaKeyArn(arn, def.Region)
		if err != nil {
			return backupKeys{}, fmt.Errorf("context backupKeyArn:%s: %w", peer, err)
		}
		out.replicas = append(out.replicas, replica)
		out.all = append(out.all, replica)
	}
	if !complete {
		out.all = nil
	}
	return out, nil
}

// replicaKeyArn is the ARN of the multi-Region key primaryArn's replica in region.
func replicaKeyArn(primaryArn, region string) (string, error) {
	parts := strings.SplitN(primaryArn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || !strings.HasPrefix(parts[5], "key/mrk-") || strings.ContainsAny(primaryArn, "*?") {
		return "", fmt.Errorf("%q is not a multi-Region KMS key ARN (arn:aws:kms:<region>:<account>:key/mrk-...): give the backup key ARN from the platform stack's Backups key", primaryArn)
	}
	parts[3] = region
	return strings.Join(parts, ":"), nil
}

func loadRegions(dir string) (regions.Set, error) {
	if dir == "" {
		return regions.Default()
	}
	return regions.Load(dir)
}

// synthesizable refuses, with what to do, region definitions the regions package accepts but the
// app cannot build (the constructs would panic): a single region (the ledger, the backups and the
// Atlas snapshots are copied to the standby) or a primary without its replication spec ID.
func synthesizable(set regions.Set) error {
	if len(set.Standbys()) == 0 {
		p := set.Primary()
		return fmt.Errorf("%s is the only region defined: the platform copies its backups, audit checkpoints and Atlas snapshots to a standby region; "+
			"add a definition of the standby beside %s (see regions/eu-central-1.json)", p.Region, p.File)
	}
	return requireReplicationSpec(set.Primary())
}

// requireReplicationSpec refuses a primary with Atlas settings (atlas.keyAccess) but no
// atlas.replicationSpecId: its backup schedule copies snapshots to the standby only with it
// (constructs/atlas NewPrimary). A standby's stack does not use it, so its definition may lack it
// until a failback makes it primary; then this error, not the construct's panic, says what to do.
func requireReplicationSpec(p regions.Definition) error {
	if p.Atlas.KeyAccess == nil || p.Atlas.ReplicationSpecID != "" {
		return nil
	}
	return fmt.Errorf("%s: field \"atlas.replicationSpecId\" is missing: %s is the primary, and its Atlas backup schedule copies snapshots to the standby only "+
		"with the cluster's replication spec ID (a standby does not need it, a region made primary does); copy replicationSpecs[0].id "+
		"of the cluster from the Atlas Admin API (GET /api/atlas/v2/groups/%s/clusters/%s) or `atlas clusters describe %s --projectId %s -o json`",
		p.File, p.Region, p.Atlas.ProjectID, p.Atlas.Cluster, p.Atlas.Cluster, p.Atlas.ProjectID)
}

// loadEnvironment reads the environment file beside the region definitions.
func loadEnvironment(dir string) (regions.Environment, error) {
	if dir == "" {
		return regions.DefaultEnvironment()
	}
	return regions.LoadEnvironment(dir)
}

// LedgerBucketName is the name of a region's own audit ledger checkpoint bucket, as the platform
// stack gives it (ledger.Props.BucketName) and the failover's restore step reads it on a failback
// (cmd/caro, caro-ledger-<account>-<region>); TestOnCallReadsTheLedgerCheckpointReplicas checks the two agree.
func LedgerBucketName(account, region string) string {
	return fmt.Sprintf("caro-ledger-%s-%s", account, region)
}

// OwnBackupBucketPattern matches the name of a region's own backup bucket (constructs/backup's
// Backups/Bucket), which CloudFormation generates as <stack name>-<logical ID>-<suffix> in lower
// case (the bucket has held Object Lock data since before a naming convention; naming it now would
// replace it). The platform stack outputs the exact name (OwnBackupBucket) for the failover's
// restore step; TestOwnBackupBucketPatternMatchesTheStack checks the two agree.
func OwnBackupBucketPattern(region string) string {
	return strings.ToLower("CaroPlatform-"+region) + "-backupsbucket*"
}

// ConnectionSecretName is the name of the secret holding a region's MongoDB connection string
// (the platform stack's MongoDBURI, set out of band), which the on-call role may read.
func ConnectionSecretName(region string) string { return fmt.Sprintf("caro/%s/mongodb-uri", region) }

// AtlasCredentialsSecretName is the secret of the Atlas Admin API credentials that MongoDB's
// CloudFormation extensions read (profile "default"), put in every region by hand (docs/deploy.md).
const AtlasCredentialsSecretName = "cfn/atlas/profile/default"

// backupKeyAlias is the alias of the multi-Region backup key (constructs/backup NewKey), which
// encrypts the region's own backup bucket.
const backupKeyAlias = "caro/backup"

// platformKeyAlias is the alias of the platform stack's key, which encrypts the ledger's own
// checkpoint bucket (among others).
const platformKeyAlias = "caro/platform"
