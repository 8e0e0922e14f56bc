// Package roles defines the three human-and-pipeline entry points into the AWS account, each with
// only the permissions its job needs:
//
//   - Deploy: assumed by GitLab CI through OIDC federation, only from this project's protected
//     branches, and able to do nothing but assume the CDK bootstrap roles (`cdk deploy` works through
//     those, and `caro release publish --assume-publishing-role` through the file-publishing role;
//     the deploy role itself cannot touch a resource).
//   - OnCall: the failover role for the on-call engineer, assumable only with MFA, for at most an
//     hour, with only what the failover steps use (CloudFormation change sets on the platform stacks,
//     Route 53 on the one hosted zone and its health checks, Cognito user creation on the pools
//     tagged as the platform's, reading the backup buckets and writing the journal through their
//     SSE-KMS key via S3 only, unwrapping backup and identity-export data keys with the exact
//     backup key replicas, and reading the audit ledger's checkpoint replicas and own checkpoint
//     buckets, through their keys via S3 only, so the restore step can recover the ledger; and
//     reading the published releases, whose template the deploy step's change set names by URL).
//   - Ops: assumed by the scheduled GitLab jobs through the same OIDC trust as Deploy (protected
//     branches only), one-hour sessions, with only what `caro backup list`, `caro backup verify`
//     and the evidence jobs' `caro audit verify` call: list and read the backups/ prefix of the
//     backup buckets (through their SSE-KMS key, via S3 only), unwrap backup data keys under the
//     backups' encryption context, read the audit ledger's checkpoints (the on-call role's read)
//     and the signing keys' public keys. The monthly drill (`caro failover drill`) runs on local
//     servers and needs no AWS permission.
//
// Every ARN comes through Props, so the construct can be placed in the edge stack or a platform stack.
package roles

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/nagcheck"
)

// DefaultGitLabURL is the OIDC issuer of gitlab.com.
const DefaultGitLabURL = "https://gitlab.com"

// DefaultBootstrapQualifier is the CDK bootstrap qualifier `cdk bootstrap` uses unless told otherwise.
const DefaultBootstrapQualifier = "hnb659fds"

// DefaultMaxMFAAgeSeconds bounds how old the on-call engineer's MFA sign-in may be when assuming the
// failover role.
const DefaultMaxMFAAgeSeconds = 3600

// bootstrapRoleKinds are the roles `cdk bootstrap` creates per account and region; the CDK CLI assumes
// these and nothing else.
var bootstrapRoleKinds = []string{"deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role"}

// Props configures the roles. Account, ProjectPath, ProtectedBranches, DeployRegions, HostedZoneID and
// the failover resource ARNs are required.
type Props struct {
	// Account is the AWS account the roles and the resources live in.
	Account string

	// GitLabURL is the OIDC issuer (https://gitlab.com or a self-managed instance URL).
	GitLabURL string
	// ExistingProviderArn reuses an IAM OIDC provider for GitLabURL that already exists in the account
	// (an account can hold only one provider per URL). Empty creates one.
	ExistingProviderArn string
	// Audience is the `aud` the pipeline requests in its id_tokens; defaults to GitLabURL.
	Audience string
	// ProjectPath is "<group>/<project>" of the GitLab project allowed to deploy.
	ProjectPath string
	// ProtectedBranches are the branches (protected in GitLab) whose pipelines may deploy.
	ProtectedBranches []string
	// SubIncludesRefProtected makes the trust require ":ref_protected:true" at the end of the sub
	// claim. IAM checks only aud and sub of a generic OIDC provider, so this is the way to make it see
	// GitLab's ref_protected claim: set the project's ci_id_token_sub_claim_components to
	// ["project_path", "ref_type", "ref", "ref_protected"] (projects API) before turning it on.
	SubIncludesRefProtected bool
	// DeployRegions are the regions CDK deploys to (their bootstrap roles are assumable).
	DeployRegions []string
	// BootstrapQualifier is the CDK bootstrap qualifier; defaults to DefaultBootstrapQualifier.
	BootstrapQualifier string

	// OnCallPrincipalArns are the IAM principals (users or roles of the on-call group) that may assume
	// the failover role; empty means any principal of Account whose own policy allows it.
	OnCallPrincipalArns []string
	// MaxMFAAgeSeconds bounds aws:MultiFactorAuthAge; defaults to DefaultMaxMFAAgeSeconds.
	MaxMFAAgeSeconds int
	// PlatformRegions are the regions of the CaroPlatform-<region> stacks.
	PlatformRegions []string
	// HostedZoneID is the Route 53 hosted zone whose failover records the drill flips.
	HostedZoneID string
	// HealthCheckIDs are the Route 53 health checks of the regional APIs. Empty allows all health
	// checks of the account (their IDs are generated in the regional stacks).
	HealthCheckIDs []string
	// UserPoolArns are the platform Cognito user pools (their IDs are generated in the platform
	// stacks, so usually a per-region pattern userpool/*); the on-call role may use only those that
	// carry the tag UserPoolTagKey=UserPoolTagValue (aws:ResourceTag).
	UserPoolArns []string
	// UserPoolTagKey and UserPoolTagValue are the tag every platform user pool carries
	// (constructs/identity PoolTagKey, PoolTagValue).
	UserPoolTagKey, UserPoolTagValue string
	// BackupBucketArns are the backup and failover-journal buckets (read, and write under failover/).
	BackupBucketArns []string
	// BackupKeyArns are the exact KMS keys (key/<id>, no wildcard) that wrap the backup and
	// identity-export data keys in the failover targets: each region's replica of its peer's
	// multi-Region backup key. The role may describe them and unwrap data keys only under the
	// backup or identity-export purpose. Empty grants no backup decryption (a region that holds no
	// replica of its peer's key cannot be failed over to anyway: `caro failover plan` refuses it).
	BackupKeyArns []string

	// BackupBucketKeyAlias is the alias (without "alias/") of the KMS key that encrypts the
	// BackupBucketArns at rest (SSE-KMS). The ops and on-call roles may use it only through S3 in
	// the PlatformRegions: the ops role to read backup objects, the on-call role also to write the
	// failover journal and lock.
	BackupBucketKeyAlias string
	// BackupDataKeyArns are the keys that wrap the per-backup data keys, for the ops role (which may
	// unwrap only under the backups' encryption context). Default: the multi-Region keys
	// (key/mrk-*) of PlatformRegions, i.e. the backup key and its replicas, whose IDs are generated.
	BackupDataKeyArns []string

	// LedgerReplicaBucketArns are the replicas of the audit ledger's checkpoint buckets in the
	// failover targets (arn:aws:s3:::caro-ledger-replica-<account>-<region>, exact, no wildcard).
	// The failover's restore step (and `caro audit recover` run by on-call) recovers the ledger
	// from them: ListObjectVersions under checkpoints/, GetObject and GetObjectRetention of each
	// checkpoint (internal/ledger CheckpointBucket), nothing else.
	LedgerReplicaBucketArns []string
	// LedgerReplicaKeyAlias is the alias (without "alias/") of the KMS key that encrypts the
	// LedgerReplicaBucketArns at rest (SSE-KMS, the replica stack's key). The on-call role may
	// decrypt with it only through S3 in the PlatformRegions, and only objects of those buckets.
	LedgerReplicaKeyAlias string
	// LedgerBucketArns are the failover targets' OWN audit ledger checkpoint buckets
	// (arn:aws:s3:::caro-ledger-<account>-<region>, exact, no wildcard). On a failback the
	// target's checkpoints from before the first failover are there (signed with its own key),
	// the later ones in its replica of the peer's bucket, so the restore step reads both as one
	// series: the same three read calls as on the replicas, nothing else.
	LedgerBucketArns []string
	// LedgerBucketKeyAlias is the alias (without "alias/") of the KMS key that encrypts the
	// LedgerBucketArns at rest (SSE-KMS, the platform stack's key). The on-call role may decrypt
	// with it only through S3 in the PlatformRegions, and only objects of the ledger buckets.
	LedgerBucketKeyAlias string

	// ErasureRegisterBucketArns are the failover targets' OWN backup buckets. Their erasures/
	// prefix is the erasure register the target's API records into; the restore step reads it
	// with the register in the target's replica of the peer's bucket (BackupBucketArns) as one, so
	// erasures made in the target (while it served, or not replicated before an outage) are not
	// lost on a restore there. Their names are generated by CloudFormation, so usually per-region
	// patterns (arn:aws:s3:::caroplatform-<region>-backupsbucket*). The role may only list under
	// erasures/ and read erasures/*, nothing else. Empty grants nothing.
	ErasureRegisterBucketArns []string
	// ErasureRegisterKeyAlias is the alias (without "alias/") of the KMS key that encrypts the
	// ErasureRegisterBucketArns at rest (SSE-KMS, the multi-Region backup key). The on-call role
	// may decrypt with it only through S3 in the PlatformRegions, and only objects of those buckets.
	ErasureRegisterKeyAlias string

	// ConnectionSecretNames are, per platform region, the name of the secret holding that region's
	// MongoDB connection string ("caro/<region>/mongodb-uri"): the failover reads the target's in the
	// target region. ConnectionSecretKeyAlias (without "alias/") is the key that encrypts them (the
	// platform stack's); the role decrypts with it only through Secrets Manager, only for those
	// secrets. Empty grants nothing.
	ConnectionSecretNames    map[string]string
	ConnectionSecretKeyAlias string
	// BackupKeyTagKey and BackupKeyTagValue tag the backup keys and their replicas
	// (constructs/peershare): without BackupKeyArns the role may describe and decrypt (under a
	// backup's purpose) the multi-Region keys of the PlatformRegions that carry the tag.
	BackupKeyTagKey, BackupKeyTagValue string
	// PeerParameterPrefix is the SSM path ("/caro/peers/") under which each region's peer writes
	// what a failover to the region reads (its backup key replica, its ledger keys). Empty grants
	// nothing.
	PeerParameterPrefix string
	// RestoreEngineStateMachine names the pre-stage state machine of every platform region
	// (constructs/backupengine): the failover's cold path starts it for the plan's backup and follows
	// the execution. Empty: no restore engine, no permission.
	RestoreEngineStateMachine string
	// ReleaseBucketArns are the platform regions' release buckets (exact bucket ARNs; by default
	// each region's CDK bootstrap assets bucket) and ReleasePrefix the prefix the releases live
	// under ("caro-releases/"): the on-call role may list that prefix and read its objects, nothing
	// else there. The failover plan reads a release's manifest and template (caro release list
	// lists them), and the deploy step's change set names the template by URL, which
	// CloudFormation reads with the caller's permissions. Empty grants nothing.
	ReleaseBucketArns []string
	ReleasePrefix     string
	// AtlasCredentialsSecretName is the secret holding the Atlas Admin API credentials in every
	// platform region ("cfn/atlas/profile/default", which the Atlas CloudFormation extensions read;
	// encrypted with the aws/secretsmanager key): an Atlas snapshot restore reads it. Empty grants
	// nothing.
	AtlasCredentialsSecretName string
}

// Roles are the constructed roles.
type Roles struct {
	// Deploy is the role GitLab CI assumes with its OIDC id token.
	Deploy awsiam.Role
	// OnCall is the MFA-protected failover role.
	OnCall awsiam.Role
	// Ops is the role of the scheduled GitLab jobs (backup list and verify).
	Ops awsiam.Role
	// ProviderArn is the GitLab OIDC provider the deploy role trusts.
	ProviderArn *string
}

// Validate reports the first missing or malformed field, saying what to set.
func (p *Props) Validate() error {
	switch {
	case p.Account == "":
		return fmt.Errorf("roles: Account is empty: pass the AWS account ID the roles live in")
	case !strings.Contains(p.ProjectPath, "/") || strings.ContainsAny(p.ProjectPath, "*? :"):
		return fmt.Errorf("roles: ProjectPath %q must be the exact \"<group>/<project>\" path without wildcards", p.ProjectPath)
	case len(p.ProtectedBranches) == 0:
		return fmt.Errorf("roles: ProtectedBranches is empty: name the protected branches that may deploy (e.g. main)")
	case len(p.DeployRegions) == 0:
		return fmt.Errorf("roles: DeployRegions is empty: name the regions cdk deploys to")
	case len(p.PlatformRegions) == 0:
		return fmt.Errorf("roles: PlatformRegions is empty: name the regions of the CaroPlatform stacks")
	case p.HostedZoneID == "":
		return fmt.Errorf("roles: HostedZoneID is empty: pass the hosted zone of the failover records")
	case len(p.UserPoolArns) == 0 || len(p.BackupBucketArns) == 0:
		return fmt.Errorf("roles: UserPoolArns and BackupBucketArns must each name at least one resource")
	case p.UserPoolTagKey == "" || p.UserPoolTagValue == "" || strings.ContainsAny(p.UserPoolTagKey+p.UserPoolTagValue, "*?"):
		return fmt.Errorf("roles: UserPoolTagKey %q and UserPoolTagValue %q must be the exact tag of the platform user pools (identity.PoolTagKey, identity.PoolTagValue)", p.UserPoolTagKey, p.UserPoolTagValue)
	case p.BackupBucketKeyAlias == "" || strings.HasPrefix(p.BackupBucketKeyAlias, "alias/") || strings.ContainsAny(p.BackupBucketKeyAlias, "*?"):
		return fmt.Errorf("roles: BackupBucketKeyAlias %q must be the exact alias (without \"alias/\") of the backup buckets' SSE-KMS key", p.BackupBucketKeyAlias)
	case len(p.LedgerReplicaBucketArns) == 0:
		return fmt.Errorf("roles: LedgerReplicaBucketArns is empty: name the ledger checkpoint replica buckets the failover recovers the audit ledger from (caro-ledger-replica-<account>-<region>)")
	case p.LedgerReplicaKeyAlias == "" || strings.HasPrefix(p.LedgerReplicaKeyAlias, "alias/") || strings.ContainsAny(p.LedgerReplicaKeyAlias, "*?"):
		return fmt.Errorf("roles: LedgerReplicaKeyAlias %q must be the exact alias (without \"alias/\") of the ledger replica buckets' SSE-KMS key", p.LedgerReplicaKeyAlias)
	}
	switch {
	case len(p.LedgerBucketArns) == 0:
		return fmt.Errorf("roles: LedgerBucketArns is empty: name the ledger's own checkpoint buckets the failover recovers the audit ledger from on a failback (caro-ledger-<account>-<region>)")
	case len(p.ErasureRegisterBucketArns) > 0 && (p.ErasureRegisterKeyAlias == "" || strings.HasPrefix(p.ErasureRegisterKeyAlias, "alias/") || strings.ContainsAny(p.ErasureRegisterKeyAlias, "*?")):
		return fmt.Errorf("roles: ErasureRegisterKeyAlias %q must be the exact alias (without \"alias/\") of the own backup buckets' SSE-KMS key", p.ErasureRegisterKeyAlias)
	case len(p.ConnectionSecretNames) > 0 && (p.ConnectionSecretKeyAlias == "" || strings.HasPrefix(p.ConnectionSecretKeyAlias, "alias/") || strings.ContainsAny(p.ConnectionSecretKeyAlias, "*?")):
		return fmt.Errorf("roles: ConnectionSecretKeyAlias %q must be the exact alias (without \"alias/\") of the connection-string secrets' key", p.ConnectionSecretKeyAlias)
	case p.LedgerBucketKeyAlias == "" || strings.HasPrefix(p.LedgerBucketKeyAlias, "alias/") || strings.ContainsAny(p.LedgerBucketKeyAlias, "*?"):
		return fmt.Errorf("roles: LedgerBucketKeyAlias %q must be the exact alias (without \"alias/\") of the ledger checkpoint buckets' SSE-KMS key", p.LedgerBucketKeyAlias)
	}
	for _, f := range []struct {
		field string
		arns  []string
	}{{"LedgerReplicaBucketArns", p.LedgerReplicaBucketArns}, {"LedgerBucketArns", p.LedgerBucketArns}} {
		for _, b := range f.arns {
			if name := strings.TrimPrefix(b, "arn:aws:s3:::"); name == b || name == "" || strings.ContainsAny(name, "*?/") {
				return fmt.Errorf("roles: %s entry %q must be an exact bucket ARN (arn:aws:s3:::<bucket>), without wildcards or a key", f.field, b)
			}
		}
	}
	if len(p.ReleaseBucketArns) > 0 && (p.ReleasePrefix == "" || !strings.HasSuffix(p.ReleasePrefix, "/") || strings.HasPrefix(p.ReleasePrefix, "/") || strings.ContainsAny(p.ReleasePrefix, "*?")) {
		return fmt.Errorf("roles: ReleasePrefix %q must be the exact prefix of the releases in their buckets, ending in \"/\" (caro-releases/)", p.ReleasePrefix)
	}
	for _, b := range p.ReleaseBucketArns {
		if name := strings.TrimPrefix(b, "arn:aws:s3:::"); name == b || name == "" || strings.ContainsAny(name, "*?/") {
			return fmt.Errorf("roles: ReleaseBucketArns entry %q must be an exact bucket ARN (arn:aws:s3:::<bucket>), without wildcards or a key", b)
		}
	}
	for _, b := range p.ProtectedBranches {
		if b == "" || strings.ContainsAny(b, "*?") {
			return fmt.Errorf("roles: protected branch %q must be an exact branch name", b)
		}
	}
	for _, k := range p.BackupKeyArns {
		if !strings.HasPrefix(k, "arn:") || !strings.Contains(k, ":key/") || strings.HasSuffix(k, ":key/") || strings.ContainsAny(k, "*?") {
			return fmt.Errorf("roles: BackupKeyArns entry %q must be an exact KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), without wildcards", k)
		}
	}
	return nil
}

func (p *Props) withDefaults() Props {
	q := *p
	if q.GitLabURL == "" {
		q.GitLabURL = DefaultGitLabURL
	}
	q.GitLabURL = strings.TrimSuffix(q.GitLabURL, "/")
	if q.Audience == "" {
		q.Audience = q.GitLabURL
	}
	if q.BootstrapQualifier == "" {
		q.BootstrapQualifier = DefaultBootstrapQualifier
	}
	if q.MaxMFAAgeSeconds == 0 {
		q.MaxMFAAgeSeconds = DefaultMaxMFAAgeSeconds
	}
	if len(q.BackupDataKeyArns) == 0 {
		for _, region := range q.PlatformRegions {
			q.BackupDataKeyArns = append(q.BackupDataKeyArns, fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-*", region, q.Account))
		}
	}
	return q
}

// GitLabSubjects returns the exact `sub` claims of pipelines on the protected branches, in GitLab's
// default format project_path:<group>/<project>:ref_type:branch:ref:<branch>, followed by
// :ref_protected:true when SubIncludesRefProtected is set.
func (p *Props) GitLabSubjects() []string {
	out := make([]string, 0, len(p.ProtectedBranches))
	for _, b := range p.ProtectedBranches {
		sub := fmt.Sprintf("project_path:%s:ref_type:branch:ref:%s", p.ProjectPath, b)
		if p.SubIncludesRefProtected {
			sub += ":ref_protected:true"
		}
		out = append(out, sub)
	}
	return out
}

// BootstrapRoleArns lists the CDK bootstrap roles of every deploy region, explicitly.
func (p *Props) BootstrapRoleArns() []string {
	q := p.withDefaults()
	var out []string
	for _, region := range q.DeployRegions {
		for _, kind := range bootstrapRoleKinds {
			out = append(out, fmt.Sprintf("arn:aws:iam::%s:role/cdk-%s-%s-%s-%s", q.Account, q.BootstrapQualifier, kind, q.Account, region))
		}
	}
	return out
}

// New creates the GitLab OIDC provider (unless ExistingProviderArn is set), the deploy role and the
// on-call failover role. It panics on invalid props, like CDK constructs do, with Validate's message.
func New(scope constructs.Construct, id string, props *Props) *Roles {
	if err := props.Validate(); err != nil {
		panic(err)
	}
	p := props.withDefaults()
	c := constructs.NewConstruct(scope, jsii.String(id))
	r := &Roles{}

	r.ProviderArn = jsii.String(p.ExistingProviderArn)
	if p.ExistingProviderArn == "" {
		provider := awsiam.NewOidcProviderNative(c, jsii.String("GitLabOidc"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String(p.GitLabURL),
			ClientIds: jsii.Strings(p.Audience),
		})
		r.ProviderArn = provider.OidcProviderArn()
	}
	r.Deploy = newDeployRole(c, p, r.ProviderArn)
	r.OnCall = newOnCallRole(c, p)
	r.Ops = newOpsRole(c, p, r.ProviderArn)
	return r
}

// gitLabPrincipal is the trust of the pipeline roles (Deploy, Ops).
func gitLabPrincipal(p Props, providerArn *string) awsiam.IPrincipal {
	issuer := strings.TrimPrefix(p.GitLabURL, "https://")
	// IAM evaluates only the aud and sub claims of a generic OIDC provider (not ref_protected itself),
	// so the trust pins sub to the exact protected branch names (plus ":ref_protected:true" with
	// SubIncludesRefProtected); GitLab allows pushes to those branches only to maintainers, and the
	// pipeline's AWS jobs also run only when CI_COMMIT_REF_PROTECTED is true.
	return awsiam.NewWebIdentityPrincipal(providerArn, &map[string]interface{}{
		"StringEquals": map[string]interface{}{
			issuer + ":aud": p.Audience,
			issuer + ":sub": p.GitLabSubjects(),
		},
	})
}

func newDeployRole(scope constructs.Construct, p Props, providerArn *string) awsiam.Role {
	role := awsiam.NewRole(scope, jsii.String("DeployRole"), &awsiam.RoleProps{
		Description:        jsii.String("GitLab CI (" + p.ProjectPath + ", protected branches) deploys with cdk: may only assume the CDK bootstrap roles"),
		AssumedBy:          gitLabPrincipal(p, providerArn),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	policy := awsiam.NewManagedPolicy(scope, jsii.String("DeployPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Assume the CDK bootstrap roles of the deploy regions, nothing else"),
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("AssumeCdkBootstrapRoles"),
				Actions:   jsii.Strings("sts:AssumeRole"),
				Resources: jsii.Strings(p.BootstrapRoleArns()...),
			}),
		},
	})
	role.AddManagedPolicy(policy)
	return role
}

func newOnCallRole(scope constructs.Construct, p Props) awsiam.Role {
	var principal awsiam.IPrincipal = awsiam.NewAccountPrincipal(jsii.String(p.Account))
	if len(p.OnCallPrincipalArns) > 0 {
		ps := make([]awsiam.IPrincipal, 0, len(p.OnCallPrincipalArns))
		for _, arn := range p.OnCallPrincipalArns {
			ps = append(ps, awsiam.NewArnPrincipal(jsii.String(arn)))
		}
		principal = awsiam.NewCompositePrincipal(ps...)
	}
	principal = awsiam.NewPrincipalWithConditions(principal, &map[string]interface{}{
		"Bool":            map[string]interface{}{"aws:MultiFactorAuthPresent": "true"},
		"NumericLessThan": map[string]interface{}{"aws:MultiFactorAuthAge": fmt.Sprint(p.MaxMFAAgeSeconds)},
	})
	role := awsiam.NewRole(scope, jsii.String("OnCallFailoverRole"), &awsiam.RoleProps{
		Description:        jsii.String("On-call failover (caro failover / caro failover drill): MFA required, one-hour sessions, failover steps only"),
		AssumedBy:          principal,
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})

	var stacks, changeSets []string
	for _, region := range p.PlatformRegions {
		stacks = append(stacks, fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/CaroPlatform-%s/*", region, p.Account, region))
		changeSets = append(changeSets, fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/*", region, p.Account))
	}
	healthChecks := []string{"arn:aws:route53:::healthcheck/*"}
	if len(p.HealthCheckIDs) > 0 {
		healthChecks = nil
		for _, id := range p.HealthCheckIDs {
			healthChecks = append(healthChecks, "arn:aws:route53:::healthcheck/"+id)
		}
	}
	var objects, journal []string
	for _, b := range p.BackupBucketArns {
		objects = append(objects, b+"/*")
		journal = append(journal, b+"/failover/*")
	}

	var bucketKeys, viaS3 []string
	for _, region := range p.PlatformRegions {
		bucketKeys = append(bucketKeys, fmt.Sprintf("arn:aws:kms:%s:%s:key/*", region, p.Account))
		viaS3 = append(viaS3, fmt.Sprintf("s3.%s.amazonaws.com", region))
	}
	stc := func(sid string, actions, resources []string, conditions map[string]interface{}) awsiam.PolicyStatement {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if conditions != nil {
			props.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(props)
	}
	st := func(sid string, actions, resources []string) awsiam.PolicyStatement {
		return stc(sid, actions, resources, nil)
	}
	statements := []awsiam.PolicyStatement{
		st("PlatformStacks", []string{
			"cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
			"cloudformation:DescribeStackResources", "cloudformation:ListStackResources",
			"cloudformation:GetTemplate", "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet",
			"cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:ListChangeSets",
		}, stacks),
		st("PlatformChangeSets", []string{"cloudformation:DescribeChangeSet", "cloudformation:DeleteChangeSet"}, changeSets),
		st("FailoverRecords", []string{
			"route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
		}, []string{"arn:aws:route53:::hostedzone/" + p.HostedZoneID}),
		st("RecordChangeStatus", []string{"route53:GetChange"}, []string{"arn:aws:route53:::change/*"}),
		st("HealthChecks", []string{
			"route53:GetHealthCheck", "route53:GetHealthCheckStatus", "route53:UpdateHealthCheck",
		}, healthChecks),
		// The identities step (AdminGetUser, then AdminCreateUser) in the target's pool. Pool IDs
		// are generated in the platform stacks, so the ARNs are per-region patterns; the tag the
		// identity construct puts on every platform pool narrows them to the platform's pools.
		// Both actions are authorized on the userpool resource type, whose condition key is
		// aws:ResourceTag/${TagKey} (Service Authorization Reference, Amazon Cognito User Pools).
		// The failover's deploy step applies the synthesized template (with the tag) before the
		// identities step runs, so a target stack deployed before the tag existed gets it in time.
		stc("RecreateUsers", []string{"cognito-idp:AdminCreateUser", "cognito-idp:AdminGetUser"}, p.UserPoolArns,
			map[string]interface{}{"StringEquals": map[string]interface{}{"aws:ResourceTag/" + p.UserPoolTagKey: p.UserPoolTagValue}}),
		st("ListBackups", []string{"s3:ListBucket", "s3:GetBucketLocation"}, p.BackupBucketArns),
		st("ReadBackups", []string{"s3:GetObject", "s3:GetObjectVersion"}, objects),
		// caro failover keeps its journal and lock beside the backups in the target region; the
		// lock is released by deleting it. Nothing else in the buckets is writable.
		st("FailoverJournal", []string{"s3:PutObject", "s3:DeleteObject"}, journal),
		// The buckets are SSE-KMS with their own key (S3 Bucket Keys): reading backups and the
		// erasure register needs kms:Decrypt, writing the journal, the lock and a large template
		// kms:GenerateDataKey, both asked by S3 with the caller's permission. The key's ID is
		// generated in the replica stack, so it is named by its alias, usable only through S3.
		stc("BucketEncryptionViaS3", []string{"kms:Decrypt", "kms:GenerateDataKey"}, bucketKeys, map[string]interface{}{
			"StringEquals":             map[string]interface{}{"kms:ViaService": viaS3},
			"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + p.BackupBucketKeyAlias},
		}),
	}
	// The restore step recovers the audit ledger the restore rolled back from the target's replica
	// of the peer's checkpoint bucket and (a failback) the target's own one, read as one series.
	// The replicas are SSE-KMS with the replica stack's key, the own buckets with the platform
	// stack's. It writes only to the database, through the MongoDB URI.
	statements = append(statements, ledger.CheckpointReadStatements(checkpointRead(p, bucketKeys, viaS3))...)
	// The restore step reads the erasure register in the target's own backup bucket too (beside the
	// replica's, covered by ReadBackups): list under erasures/ and read erasures/* only, decrypted
	// through S3 with the backup key's alias, only for objects of those buckets.
	if len(p.ErasureRegisterBucketArns) > 0 {
		var registerObjects, registerContexts []string
		for _, b := range p.ErasureRegisterBucketArns {
			registerObjects = append(registerObjects, b+"/erasures/*")
			registerContexts = append(registerContexts, b, b+"/erasures/*") // S3 Bucket Key: the bucket ARN; without: the object's
		}
		statements = append(statements,
			stc("ListErasureRegister", []string{"s3:ListBucket"}, p.ErasureRegisterBucketArns,
				map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": "erasures/*"}}),
			st("ReadErasureRegister", []string{"s3:GetObject"}, registerObjects),
			stc("ErasureRegisterDecryptionViaS3", []string{"kms:Decrypt"}, bucketKeys, map[string]interface{}{
				"StringEquals":             map[string]interface{}{"kms:ViaService": viaS3},
				"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + p.ErasureRegisterKeyAlias},
				"StringLike":               map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": registerContexts},
			}),
		)
	}
	statements = append(statements, secretReadStatements(p)...)
	statements = append(statements, releaseReadStatements(p)...)
	// The replicas of the peers' backup keys: exact ARNs when all are known (context), otherwise
	// the multi-Region keys of the platform regions that carry the backup-key tag (the replicas are
	// made at deploy time by the peer's stack, constructs/peershare, with generated IDs).
	backupKeys, tagged := p.BackupKeyArns, map[string]interface{}{}
	if len(backupKeys) == 0 && p.BackupKeyTagKey != "" {
		backupKeys = nil
		for _, region := range p.PlatformRegions {
			backupKeys = append(backupKeys, fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-*", region, p.Account))
		}
		tagged = map[string]interface{}{"aws:ResourceTag/" + p.BackupKeyTagKey: p.BackupKeyTagValue}
	}
	if len(backupKeys) > 0 {
		describe := map[string]interface{}{}
		decrypt := map[string]interface{}{"kms:EncryptionContext:caro:purpose": BackupKeyPurposes}
		for k, v := range tagged {
			describe[k], decrypt[k] = v, v
		}
		var describeConditions map[string]interface{}
		if len(describe) > 0 {
			describeConditions = map[string]interface{}{"StringEquals": describe}
		}
		statements = append(statements,
			// Preflight (plan and apply) checks the target's backup key is enabled.
			stc("DescribeBackupKeys", []string{"kms:DescribeKey"}, backupKeys, describeConditions),
			// The restore unwraps the backup's data key, the identities step the identity export's,
			// each under its purpose in the encryption context (internal/backup); nothing else.
			stc("DecryptBackups", []string{"kms:Decrypt"}, backupKeys, map[string]interface{}{"StringEquals": decrypt}),
		)
	}
	if p.PeerParameterPrefix != "" {
		// The failover reads, in the target region, what the peer's stack wrote there.
		var params []string
		for _, region := range p.PlatformRegions {
			params = append(params, fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s*", region, p.Account, p.PeerParameterPrefix))
		}
		statements = append(statements, st("ReadPeerParameters", []string{"ssm:GetParameter", "ssm:GetParametersByPath"}, params))
	}
	statements = append(statements, restoreEngineStatements(p)...)
	policy := awsiam.NewManagedPolicy(scope, jsii.String("OnCallFailoverPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("Only the calls of the failover steps, on the platform's own resources"),
		Statements:  &statements,
	})
	role.AddManagedPolicy(policy)
	nagcheck.Suppress(policy, "AwsSolutions-IAM5",
		"Wildcards are resource-scoped only (no wildcard actions): stack IDs and change-set names are "+
			"generated per deployment, backup objects are keyed by date, ledger checkpoints (read-only, checkpoints/ of "+
			"the named replica and own ledger buckets) by number, Route 53 change IDs are per call; "+
			"the erasure register (read-only, erasures/ of the own backup buckets, whose names CloudFormation "+
			"generates, so per-region name patterns) by tenant and patient; secrets by the six characters Secrets Manager "+
			"appends to their names, their key only through Secrets Manager for those secrets; "+
			"releases (read-only, the release prefix of the named release buckets) by version; "+
			"user pools (generated IDs) only with the platform pool tag, the buckets' key (generated ID) only "+
			"through S3 and only with the buckets' key alias (the checkpoints' also only for the ledger buckets' "+
			"objects); backup data keys are exact ARNs. The role "+
			"requires MFA with one-hour sessions")
	return role
}

// secretReadStatements let the on-call role read, in each platform region, that region's
// connection-string secret (decrypted with its key through Secrets Manager only, for those
// secrets only) and the Atlas credentials secret. Secrets Manager appends six characters to a
// secret's ARN, hence "-??????".
func secretReadStatements(p Props) []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	secretArn := func(region, name string) string {
		return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-??????", region, p.Account, name)
	}
	var connection, keys, via []string
	for _, region := range p.PlatformRegions {
		if name := p.ConnectionSecretNames[region]; name != "" {
			connection = append(connection, secretArn(region, name))
			keys = append(keys, fmt.Sprintf("arn:aws:kms:%s:%s:key/*", region, p.Account))
			via = append(via, fmt.Sprintf("secretsmanager.%s.amazonaws.com", region))
		}
	}
	if len(connection) > 0 {
		out = append(out,
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadConnectionSecrets"),
				Actions: jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"), Resources: jsii.Strings(connection...)}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ConnectionSecretDecryptionViaSecretsManager"),
				Actions: jsii.Strings("kms:Decrypt"), Resources: jsii.Strings(keys...),
				Conditions: &map[string]interface{}{
					"StringEquals":             map[string]interface{}{"kms:ViaService": via},
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + p.ConnectionSecretKeyAlias},
					"StringLike":               map[string]interface{}{"kms:EncryptionContext:SecretARN": connection},
				}}),
		)
	}
	if p.AtlasCredentialsSecretName != "" {
		var atlas []string
		for _, region := range p.PlatformRegions {
			atlas = append(atlas, secretArn(region, p.AtlasCredentialsSecretName))
		}
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadAtlasCredentials"),
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: jsii.Strings(atlas...)}))
	}
	return out
}

// restoreEngineStatements let the failover's cold path start the target's restore engine and follow
// its execution (StartExecution on the state machine, DescribeExecution on its executions: Service
// Authorization Reference, AWS Step Functions), nothing else of Step Functions.
func restoreEngineStatements(p Props) []awsiam.PolicyStatement {
	if p.RestoreEngineStateMachine == "" {
		return nil
	}
	var machines, executions []string
	for _, region := range p.PlatformRegions {
		machines = append(machines, fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, p.Account, p.RestoreEngineStateMachine))
		executions = append(executions, fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:*", region, p.Account, p.RestoreEngineStateMachine))
	}
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("StartRestoreEngine"),
			Actions: jsii.Strings("states:StartExecution"), Resources: jsii.Strings(machines...)}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("FollowRestoreEngine"),
			Actions: jsii.Strings("states:DescribeExecution"), Resources: jsii.Strings(executions...)}),
	}
}

// releaseReadStatements let the on-call role list the release prefix of each platform region's
// release bucket and read the objects under it (manifests and templates). The buckets are the CDK
// bootstrap buckets, encrypted with the aws/s3 key or the bootstrap's own key, whose key policies
// both let the account's principals use them through S3: no KMS grant is needed.
func releaseReadStatements(p Props) []awsiam.PolicyStatement {
	if len(p.ReleaseBucketArns) == 0 {
		return nil
	}
	var objects []string
	for _, b := range p.ReleaseBucketArns {
		objects = append(objects, b+"/"+p.ReleasePrefix+"*")
	}
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ListReleases"),
			Actions: jsii.Strings("s3:ListBucket"), Resources: jsii.Strings(p.ReleaseBucketArns...),
			Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": p.ReleasePrefix + "*"}}}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Sid: jsii.String("ReadReleases"),
			Actions: jsii.Strings("s3:GetObject"), Resources: jsii.Strings(objects...)}),
	}
}

// BackupKeyPurposes are the caro:purpose values of the data keys the failover unwraps: the
// backup's (restore) and the identity export's (identities step), as internal/backup writes them.
var BackupKeyPurposes = []string{"backup", "identity-export"}

// BackupEncryptionContextKeys are the keys of a backup data key's KMS encryption context
// (internal/backup: caro:purpose=backup, caro:backup-id, caro:source-region).
var BackupEncryptionContextKeys = []string{"caro:purpose", "caro:backup-id", "caro:source-region"}

// checkpointRead is the read of the audit ledger's checkpoint buckets, the replicas of the peers'
// (under the replica stacks' key) and the own ones (under the platform stacks' key), as one series.
func checkpointRead(p Props, bucketKeys, viaS3 []string) ledger.CheckpointRead {
	aliases := []string{"alias/" + p.LedgerReplicaKeyAlias}
	if p.LedgerBucketKeyAlias != p.LedgerReplicaKeyAlias {
		aliases = append(aliases, "alias/"+p.LedgerBucketKeyAlias)
	}
	return ledger.CheckpointRead{
		ListSid: "ListLedgerCheckpoints", ReadSid: "ReadLedgerCheckpoints", DecryptSid: "LedgerCheckpointDecryptionViaS3",
		BucketArns: append(slices.Clone(p.LedgerReplicaBucketArns), p.LedgerBucketArns...),
		KeyArns:    bucketKeys, KeyAliases: aliases, ViaServices: viaS3,
	}
}

// newOpsRole is the role of the scheduled jobs weekly:backup-verify (caro backup list, caro backup
// verify --target <scratch MongoDB from a CI variable>), monthly:failover-drill (local servers
// only: nothing here) and the evidence jobs (those two backup commands and caro audit verify).
// All of them only read: ListObjectsV2 and GetObject under backups/, and KMS Decrypt of each
// backup's wrapped data key (and, by S3, of the bucket's SSE-KMS key); the ledger's checkpoints
// with their versions and Object Lock retention, and the signing keys' public keys.
func newOpsRole(scope constructs.Construct, p Props, providerArn *string) awsiam.Role {
	role := awsiam.NewRole(scope, jsii.String("OpsRole"), &awsiam.RoleProps{
		Description:        jsii.String("GitLab CI scheduled jobs (" + p.ProjectPath + ", protected branches): caro backup list and verify, read only"),
		AssumedBy:          gitLabPrincipal(p, providerArn),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	var objects, bucketKeys, viaS3 []string
	for _, b := range p.BackupBucketArns {
		objects = append(objects, b+"/backups/*")
	}
	for _, region := range p.PlatformRegions {
		bucketKeys = append(bucketKeys, fmt.Sprintf("arn:aws:kms:%s:%s:key/*", region, p.Account))
		viaS3 = append(viaS3, fmt.Sprintf("s3.%s.amazonaws.com", region))
	}
	st := func(sid string, actions, resources []string, conditions map[string]interface{}) awsiam.PolicyStatement {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if conditions != nil {
			props.Conditions = &conditions
		}
		return awsiam.NewPolicyStatement(props)
	}
	policy := awsiam.NewManagedPolicy(scope, jsii.String("OpsPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("caro backup list and verify, caro audit verify: read the backups/ prefix, unwrap backup data keys, read the ledger's checkpoints and public keys, nothing else"),
		Statements: &[]awsiam.PolicyStatement{
			st("ListBackups", []string{"s3:ListBucket"}, p.BackupBucketArns,
				map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": "backups/*"}}),
			st("ReadBackups", []string{"s3:GetObject"}, objects, nil),
			// S3 decrypts the objects' SSE-KMS layer with the caller's permission: the buckets' key,
			// named by its alias (its ID is generated), usable only through S3.
			st("BucketEncryptionViaS3", []string{"kms:Decrypt"}, bucketKeys, map[string]interface{}{
				"StringEquals":             map[string]interface{}{"kms:ViaService": viaS3},
				"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + p.BackupBucketKeyAlias},
			}),
			// The backup payload's own envelope: only data keys with exactly a backup's context.
			st("UnwrapBackupDataKeys", []string{"kms:Decrypt"}, p.BackupDataKeyArns, map[string]interface{}{
				"StringEquals": map[string]interface{}{
					"kms:EncryptionContext:caro:purpose":       "backup",
					"kms:EncryptionContext:caro:source-region": p.PlatformRegions,
				},
				"ForAllValues:StringEquals": map[string]interface{}{"kms:EncryptionContextKeys": BackupEncryptionContextKeys},
			}),
		},
	})
	// caro audit verify (the evidence jobs): the checkpoints as the failover's restore step reads
	// them, and the public key of each region's signing key (generated IDs: keys of the platform
	// regions with the signing key's spec and usage; a public key reveals nothing).
	for _, s := range ledger.CheckpointReadStatements(checkpointRead(p, bucketKeys, viaS3)) {
		policy.AddStatements(s)
	}
	policy.AddStatements(st("ReadLedgerPublicKeys", []string{"kms:GetPublicKey"}, bucketKeys, map[string]interface{}{
		"StringEquals": map[string]interface{}{"kms:KeySpec": string(ledger.SigningKeySpec), "kms:KeyUsage": "SIGN_VERIFY"},
	}))
	role.AddManagedPolicy(policy)
	nagcheck.Suppress(policy, "AwsSolutions-IAM5",
		"Wildcards are resource-scoped only (no wildcard actions, read-only): backups/* is the backup prefix of the named "+
			"backup buckets (one folder per backup ID), checkpoints/* the checkpoint prefix of the named ledger buckets; "+
			"key/* is usable only through S3 and only if the key carries the buckets' aliases, or for GetPublicKey only of "+
			"SIGN_VERIFY keys of the ledger's spec (generated IDs); key/mrk-* (the multi-Region backup key and its replicas, "+
			"generated IDs) only with a backup's exact encryption context. The role trusts only this project's protected "+
			"branches via GitLab OIDC, with one-hour sessions")
	return role
}
