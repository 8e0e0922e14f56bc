package config

// Keys of the settings, for code that reads them (Config.Value, struct tags).
const (
	KeyRegion                      = "region"
	KeyAccount                     = "account"
	KeyMongoURI                    = "mongodb-uri"
	KeyFailoverMongoURI            = "failover-mongodb-uri"
	KeyBackupBucket                = "backup-bucket"
	KeyBackupReplicaBucket         = "backup-replica-bucket"
	KeyBackupKey                   = "backup-key"
	KeyPeerBackupKey               = "peer-backup-key"
	KeyLedgerBucket                = "ledger-bucket"
	KeyLedgerReplicaBucket         = "ledger-replica-bucket"
	KeyLedgerSigningKey            = "ledger-signing-key"
	KeyLedgerPublicKeys            = "ledger-public-keys"
	KeyLedgerMaxAge                = "ledger-checkpoint-max-age"
	KeyLedgerCheckpointSchedule    = "ledger-checkpoint-schedule"
	KeyUserPoolID                  = "user-pool-id"
	KeyHealthCheckID               = "health-check-id"
	KeyRoutingControlArn           = "routing-control-arn"
	KeyAuditTopicArn               = "audit-topic-arn"
	KeyAtlasPublicKey              = "atlas-public-key"
	KeyAtlasPrivateKey             = "atlas-private-key"
	KeyAtlasClientID               = "atlas-client-id"
	KeyAtlasClientSecret           = "atlas-client-secret"
	KeyAtlasBaseURL                = "atlas-base-url"
	KeyOriginSecret                = "origin-secret"
	KeyARCEndpoints                = "arc-endpoints"
	KeyCDKOut                      = "cdk-out"
	KeyRelease                     = "release"
	KeyReleaseBucket               = "release-bucket"
	KeyStateDir                    = "state-dir"
	KeyOperator                    = "operator"
	KeyS3Endpoint                  = "s3-endpoint"
	KeyCacheDir                    = "cache-dir"
	KeyBackupEveryHours            = "backup-every-hours"
	KeyDatabase                    = "database"
	KeyVerifyMongoURI              = "verify-mongodb-uri"
	KeyFailoverBackupBucket        = "failover-backup-bucket"
	KeyFailoverLedgerBucket        = "failover-ledger-bucket"
	KeyFailoverLedgerReplicaBucket = "failover-ledger-replica-bucket"
	KeyMaxBackupAge                = "max-backup-age"
	KeyLedgerRetentionYears        = "ledger-retention-years"
	KeyRetentionYears              = "retention-years"
)

// Commands named in the catalogue (the reference lists, per setting, which read it).
const (
	cmdFailover = "caro failover plan, apply, status, readiness"
	cmdBackup   = "caro backup create, list, restore, verify, recover"
	cmdAudit    = "caro audit verify, prove, recover, public-key"
	cmdGDPR     = "caro gdpr reapply"
	cmdLocal    = "caro local up, caro failover drill, tests (local servers)"
	cmdTenant   = "caro tenant delete"
)

// Catalogue is every setting the CLI reads, in the order `caro config view` shows them.
var Catalogue = []Setting{
	{Key: KeyRegion, Doc: "The AWS region the command acts on (for the failover: the target, --to).",
		Lookups: []Lookup{Flag("region"), Env("CARO_REGION"), Env("AWS_REGION"), Derived("{primary}")},
		Fix:     "pass --region <region> (a region defined in regions/)", Commands: []string{cmdBackup, cmdAudit, cmdGDPR, cmdFailover, cmdTenant}},
	{Key: KeyAccount, Doc: "The AWS account the platform runs in; bucket names include it.",
		Lookups: []Lookup{EnvFile("account"), {Kind: KindCredentials, Name: "sts:GetCallerIdentity"}},
		Fix:     "set \"account\" in regions/environment.json, or supply AWS credentials", Commands: []string{cmdFailover, cmdAudit}},

	{Key: KeyMongoURI, Doc: "Connection string of the region's database (Atlas).", Secret: true,
		Lookups:  []Lookup{Flag("mongodb-uri"), Env("CARO_MONGODB_URI"), Secret("caro/{region}/mongodb-uri")},
		Fix:      "pass --mongodb-uri, or put the cluster's connection string into the secret caro/{region}/mongodb-uri in {region} (docs/deploy.md, after the first deploy)",
		Commands: []string{cmdBackup, cmdAudit, cmdGDPR, cmdTenant}},
	{Key: KeyDatabase, Doc: "The application database in the cluster.",
		Lookups: []Lookup{Env("CARO_DATABASE"), Default("caro")}, Commands: []string{cmdBackup, cmdAudit, cmdGDPR, cmdTenant}},
	{Key: KeyVerifyMongoURI, Doc: "The scratch server `caro backup verify` restores its copy into (default: mongodb-uri).", Secret: true, Optional: true,
		Lookups: []Lookup{Env("CARO_VERIFY_MONGODB_URI")}, Commands: []string{"caro backup verify"}},
	{Key: KeyFailoverMongoURI, Doc: "Connection string of the failover target's database, which the restore writes into.", Secret: true,
		Lookups:  []Lookup{Env("CARO_FAILOVER_MONGODB_URI"), Secret("caro/{region}/mongodb-uri")},
		Fix:      "put the {region} cluster's connection string into the secret caro/{region}/mongodb-uri in {region} (the on-call role may read it), or set CARO_FAILOVER_MONGODB_URI",
		Commands: []string{cmdFailover}},

	{Key: KeyBackupBucket, Doc: "The region's own backup bucket (its backups and its erasure register).",
		Lookups: []Lookup{Flag("bucket"), Env("CARO_BACKUP_BUCKET"), StackOutput("OwnBackupBucket")},
		Fix:     "deploy CaroPlatform-{region} (output OwnBackupBucket), or pass --bucket", Commands: []string{cmdBackup, cmdFailover, cmdGDPR, cmdTenant}},
	{Key: KeyBackupReplicaBucket, Doc: "The bucket in the region that holds the peer region's backups (replicated): what a failover to the region restores.",
		Lookups: []Lookup{Env("CARO_BACKUP_REPLICA_BUCKET"), StackOutput("BackupBucket")},
		Fix:     "deploy CaroPlatform-{region} (output BackupBucket)", Commands: []string{cmdFailover}},
	{Key: KeyFailoverBackupBucket, Doc: "The failover target's own backup bucket, whose erasure register the restore re-applies with the replica's.",
		Lookups: []Lookup{Env("CARO_FAILOVER_BACKUP_OWN_BUCKET"), StackOutput("OwnBackupBucket")},
		Fix:     "deploy CaroPlatform-{region} (output OwnBackupBucket), or set CARO_FAILOVER_BACKUP_OWN_BUCKET", Commands: []string{cmdFailover}},
	{Key: KeyBackupKey, Doc: "The multi-Region KMS key the region's backups are encrypted with.",
		Lookups: []Lookup{Flag("kms-key"), Env("CARO_BACKUP_KEY_ID"), StackOutput("OwnBackupKeyArn"), Parameter("/caro/{region}/backup-key-arn")},
		Fix:     "deploy CaroPlatform-{region} (it writes the SSM parameter /caro/{region}/backup-key-arn), or pass --kms-key", Commands: []string{cmdBackup, cmdFailover}},
	{Key: KeyPeerBackupKey, Doc: "The region's replica of the peer's multi-Region backup key: it decrypts the peer's backups while the peer is down.",
		Lookups: []Lookup{Env("CARO_PEER_BACKUP_KEY_ID"), StackOutput("BackupKeyArn"), Parameter("/caro/peers/{peer}/backup-key-arn")},
		Fix:     "deploy both platform stacks (`npx cdk deploy --all`): CaroPlatform-{peer} replicates its backup key into {region} and writes /caro/peers/{peer}/backup-key-arn there", Commands: []string{cmdFailover, cmdBackup}},

	{Key: KeyBackupEveryHours, Doc: "Hours between backups (the backup engine's schedule in the region, 1 to 24): a failover from a logical backup loses at most this plus a backup's duration (the RPO the plan and readiness state).",
		Lookups:  []Lookup{RegionFile("backupEveryHours"), Default("6")},
		Commands: []string{cmdFailover, "cdk deploy (constructs/backupengine's schedule)"}},

	{Key: KeyLedgerBucket, Doc: "The region's audit-ledger checkpoint bucket (Object Lock).",
		Lookups: []Lookup{Env("CARO_LEDGER_BUCKET"), StackOutput("LedgerBucket"), Derived("caro-ledger-{account}-{region}")},
		Fix:     "deploy CaroPlatform-{region}, or set CARO_LEDGER_BUCKET", Commands: []string{cmdAudit, cmdFailover}},
	{Key: KeyLedgerReplicaBucket, Doc: "The region's replica of the peer's checkpoint bucket.",
		Lookups: []Lookup{Env("CARO_LEDGER_REPLICA_BUCKET"), Derived("caro-ledger-replica-{account}-{region}")},
		Fix:     "deploy CaroReplica-{region}, or set CARO_LEDGER_REPLICA_BUCKET", Commands: []string{cmdAudit, cmdFailover}},
	{Key: KeyFailoverLedgerBucket, Doc: "The failover target's own checkpoint bucket (after a failback it holds the entries the peer continued).",
		Lookups: []Lookup{Env("CARO_FAILOVER_LEDGER_OWN_BUCKET"), StackOutput("LedgerBucket"), Derived("caro-ledger-{account}-{region}")},
		Fix:     "deploy CaroPlatform-{region}, or set CARO_FAILOVER_LEDGER_OWN_BUCKET", Commands: []string{cmdFailover}},
	{Key: KeyFailoverLedgerReplicaBucket, Doc: "The failover target's replica of the source's checkpoint bucket, which the restore step recovers the ledger from.",
		Lookups: []Lookup{Env("CARO_FAILOVER_LEDGER_BUCKET"), Derived("caro-ledger-replica-{account}-{region}")},
		Fix:     "deploy CaroReplica-{region}, or set CARO_FAILOVER_LEDGER_BUCKET", Commands: []string{cmdFailover}},
	{Key: KeyRetentionYears, Doc: "How long application data is kept after its last change, in years: every restore expires what is past it in the restored data, as the daily retention job does.",
		Lookups: []Lookup{RegionFile("retentionYears"), Default("9")}, Commands: []string{cmdFailover, cmdBackup}},
	{Key: KeyLedgerRetentionYears, Doc: "How long the ledger's checkpoints are kept, in years.",
		Lookups: []Lookup{Env("CARO_LEDGER_RETENTION_YEARS"), RegionFile("retentionYears"), Default("9")}, Commands: []string{cmdAudit, cmdFailover}},
	{Key: KeyLedgerSigningKey, Doc: "The KMS key the region's audit writer signs checkpoints with.",
		Lookups: []Lookup{Env("CARO_LEDGER_SIGNING_KEY_ARN"), StackOutput("LedgerSigningKeyArn")},
		Fix:     "deploy CaroPlatform-{region}, or set CARO_LEDGER_SIGNING_KEY_ARN", Commands: []string{cmdAudit}},
	{Key: KeyLedgerPublicKeys, Doc: "The pinned public keys of every region's ledger signing key (<key ARN>=<base64 DER>,...): verification trusts only these.",
		Lookups:  []Lookup{Env("CARO_LEDGER_PUBLIC_KEY"), EnvFile("ledgerPublicKeys"), Parameter("/caro/peers/{peer}/ledger-public-keys")},
		Fix:      "after the first deploy, add each region's item of `caro audit public-key` to \"ledgerPublicKeys\" in regions/environment.json and commit it",
		Commands: []string{cmdAudit, cmdFailover}},
	{Key: KeyLedgerMaxAge, Doc: "The longest an audit entry waits for a signed checkpoint (the ledger's unanchored window).",
		Lookups: []Lookup{Env("CARO_LEDGER_CHECKPOINT_MAX_AGE"), Default("5m")}, Commands: []string{cmdAudit, cmdFailover}},
	{Key: KeyLedgerCheckpointSchedule, Doc: "How often the audit writer cuts due checkpoints when no events arrive; with ledger-checkpoint-max-age, how long an entry may stay unanchored before verify reports it.",
		Lookups: []Lookup{Env("CARO_LEDGER_CHECKPOINT_SCHEDULE"), Default("5m")}, Commands: []string{"caro audit verify"}},

	{Key: KeyUserPoolID, Doc: "The region's Cognito user pool, which the failover re-provisions users into and a tenant's offboarding deletes its users from.",
		Lookups: []Lookup{Flag("user-pool-id"), Env("CARO_USER_POOL_ID"), StackOutput("UserPoolId")}, Fix: "deploy CaroPlatform-{region}, or pass --user-pool-id",
		Commands: []string{cmdFailover, cmdTenant}},
	{Key: KeyHealthCheckID, Doc: "The Route 53 health check of the region's API.",
		Lookups: []Lookup{StackOutput("HealthCheckId")}, Fix: "deploy CaroPlatform-{region}", Commands: []string{cmdFailover}},
	{Key: KeyRoutingControlArn, Optional: true, Doc: "The Route 53 ARC routing control of the region (optional: with it DNS moves on ARC's data plane).",
		Lookups: []Lookup{StackOutput("RoutingControlArn")}, Commands: []string{cmdFailover}},
	{Key: KeyARCEndpoints, Optional: true, Doc: "The Route 53 ARC cluster endpoints, region=url,... (optional: enables --dns arc).",
		Lookups: []Lookup{Env("CARO_ARC_ENDPOINTS")}, Commands: []string{cmdFailover}},
	{Key: KeyAuditTopicArn, Optional: true, Doc: "The region's audit topic, for events the CLI publishes directly.",
		Lookups: []Lookup{Env("CARO_AUDIT_TOPIC_ARN"), StackOutput("AuditTopicArn")}, Commands: []string{cmdBackup, cmdAudit, cmdGDPR, cmdTenant}},
	{Key: KeyOriginSecret, Doc: "The CloudFront origin secret, for the failover's direct requests to a region's API.", Secret: true,
		Lookups: []Lookup{Env("CARO_ORIGIN_SECRET"), Secret("caro/edge/origin-verify")},
		Fix:     "deploy CaroEdge (it replicates the secret caro/edge/origin-verify to {region})", Commands: []string{cmdFailover}},

	{Key: KeyAtlasPublicKey, Doc: "Atlas Admin API public key (Atlas snapshot restores).",
		Lookups:  []Lookup{Env("MONGODB_ATLAS_PUBLIC_API_KEY"), SecretField("{atlas-secret}", "PublicKey")},
		Fix:      "let the on-call role read the secret named by \"atlasCredentialsSecret\" in regions/environment.json, or set MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY",
		Commands: []string{cmdFailover, "caro backup atlas-restore"}},
	{Key: KeyAtlasPrivateKey, Doc: "Atlas Admin API private key.", Secret: true,
		Lookups: []Lookup{Env("MONGODB_ATLAS_PRIVATE_API_KEY"), SecretField("{atlas-secret}", "PrivateKey")},
		Fix:     "as for atlas-public-key", Commands: []string{cmdFailover, "caro backup atlas-restore"}},
	{Key: KeyAtlasClientID, Optional: true, Doc: "Atlas service account client ID (instead of an API key).",
		Lookups: []Lookup{Env("MONGODB_ATLAS_CLIENT_ID")}, Commands: []string{cmdFailover, "caro backup atlas-restore"}},
	{Key: KeyAtlasClientSecret, Optional: true, Doc: "Atlas service account client secret.", Secret: true,
		Lookups: []Lookup{Env("MONGODB_ATLAS_CLIENT_SECRET")}, Commands: []string{cmdFailover, "caro backup atlas-restore"}},
	{Key: KeyAtlasBaseURL, Doc: "The Atlas Admin API's address (tests point it at a fake).",
		Lookups: []Lookup{Env("MONGODB_ATLAS_BASE_URL"), Default("https://cloud.mongodb.com")}, Commands: []string{cmdFailover, "caro backup atlas-restore"}},

	{Key: KeyMaxBackupAge, Doc: "The recovery point objective: readiness and the plan warn when the newest backup is older. Default: the backup schedule plus 2 hours (a backup's run and its replication), so one missed backup warns within the next readiness run after that.",
		Lookups: []Lookup{Env("CARO_MAX_BACKUP_AGE"), Derived("{backup-every-hours}h120m")}, Commands: []string{cmdFailover}},
	{Key: KeyRelease, Optional: true, Doc: "The release (version) the failover deploys; default: the one the primary runs.",
		Lookups: []Lookup{Flag("release")}, Commands: []string{cmdFailover}},
	{Key: KeyReleaseBucket, Doc: "The bucket in the region the pipeline publishes each release's template to, beside the assets cdk deploy published (default: the CDK bootstrap bucket).",
		Lookups: []Lookup{Env("CARO_RELEASE_BUCKET"), EnvFile("releaseBucket"), Derived("cdk-hnb659fds-assets-{account}-{region}")},
		Fix:     "set \"releaseBucket\" in regions/environment.json ({account} and {region} are filled in)", Commands: []string{cmdFailover, "caro release publish, list"}},
	{Key: KeyCDKOut, Optional: true, Doc: "A locally synthesized cloud assembly to deploy instead of the published release (platform engineers only).",
		Lookups: []Lookup{Flag("cdk-out"), Env("CARO_CDK_OUT")}, Commands: []string{cmdFailover}},
	{Key: KeyStateDir, Doc: "Folder of the local failover journal and lock (the local provider; AWS keeps them in S3).",
		Lookups: []Lookup{Flag("state-dir"), Env("CARO_STATE_DIR"), Derived("{home}/.caro/failover")}, Commands: []string{cmdFailover}},
	{Key: KeyOperator, Doc: "Who runs the command, for the failover lock and audit events.",
		Lookups: []Lookup{Env("CARO_OPERATOR"), Env("USER"), Default("unknown")}, Commands: []string{cmdFailover, cmdBackup, cmdAudit, cmdGDPR, cmdTenant}},
	{Key: KeyS3Endpoint, Optional: true, Doc: "An S3-compatible endpoint instead of AWS (local servers); objects are then addressed path-style.",
		Lookups: []Lookup{Env("AWS_ENDPOINT_URL_S3"), Env("AWS_ENDPOINT_URL")}, Commands: []string{cmdBackup, cmdAudit, cmdTenant}},
	{Key: KeyCacheDir, Optional: true, Doc: "Folder of the local servers' binaries (FerretDB, local-kms, Knot, mongo-tools).",
		Lookups: []Lookup{Env("CARO_CACHE"), Derived("{repo}/.cache")}, Commands: []string{cmdLocal}},
}

// Lookup returns the catalogue entry of key.
func lookupSetting(key string) (Setting, bool) {
	for _, s := range Catalogue {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}
