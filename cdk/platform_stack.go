package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogsdestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/accesslogs"
	"github.com/carohealth/platform/constructs/api"
	"github.com/carohealth/platform/constructs/atlas"
	"github.com/carohealth/platform/constructs/backup"
	"github.com/carohealth/platform/constructs/backupengine"
	"github.com/carohealth/platform/constructs/dns"
	"github.com/carohealth/platform/constructs/edge"
	"github.com/carohealth/platform/constructs/encryption"
	"github.com/carohealth/platform/constructs/gofunction"
	"github.com/carohealth/platform/constructs/identity"
	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/messaging"
	"github.com/carohealth/platform/constructs/monitoring"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/peershare"
	"github.com/carohealth/platform/constructs/retention"
	"github.com/carohealth/platform/regions"
)

// PlatformStackProps configures one region's platform stack.
type PlatformStackProps struct {
	awscdk.StackProps
	// Region is the region's definition.
	Region regions.Definition
	// PeerRegion receives this region's audit checkpoints and backups (its CaroReplica stack).
	PeerRegion string
	// PeerBackupKeyArn is the peer region's multi-Region backup key (context backupKeyArn:<peer>,
	// known after the peer's first deploy). With it this region holds a replica of that key, so the
	// peer's backups decrypt here while the peer region is down.
	PeerBackupKeyArn string
	// PeerHoldsBackupKeyReplica is set when the peer's stack declares the replica of this region's
	// backup key itself (context backupKeyArn:<this region>): this stack then does not replicate it.
	PeerHoldsBackupKeyReplica bool
	// PeerLedgerPublicKeys are the peer region's audit ledger signing keys (context
	// ledgerPublicKeys:<peer>, known after the peer's first deploy). With them the audit writer's
	// weekly verify reads this region's replica of the peer's checkpoints too, with the keys pinned.
	PeerLedgerPublicKeys []ledger.PublicKey
	// Version is the platform version the handlers report on /health and the stack's Release
	// output names (context "version": the release the pipeline publishes this assembly as).
	Version string
	// Environment is the environment file beside the region definitions (its release bucket,
	// which the standby's readiness check reads the release from).
	Environment regions.Environment
	// OriginSecretVersions are the origin secret versions the regional WAF accepts (context
	// originSecretVersion, then originSecretAccept); empty: the version staged AWSCURRENT.
	OriginSecretVersions []string
}

// PlatformStack is everything one region runs. It is self-contained: a region can be rebuilt from
// nothing by deploying this stack alone (the edge stack's origin secret replica is its only input).
type PlatformStack struct {
	awscdk.Stack
	Key       awskms.Key
	Functions map[string]*gofunction.Function
}

// NewPlatformStack composes the constructs of one region.
func NewPlatformStack(scope constructs.Construct, id string, props *PlatformStackProps) *PlatformStack {
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	accesslogs.UseBucketPolicy(stack)
	def := props.Region
	ps := &PlatformStack{Stack: stack, Functions: map[string]*gofunction.Function{}}

	ps.Key = encryption.NewKey(stack, "PlatformKey", &encryption.KeyProps{
		Alias:             "caro/platform",
		Description:       "Caro platform data in " + def.Region + ": logs, topics, queues, secrets",
		LogsService:       true,
		ServicePrincipals: []string{"sns.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"},
	})
	mon := monitoring.New(stack, "Monitoring", &monitoring.Props{
		Key: ps.Key, AlertEmail: def.AlertEmail, DashboardName: "caro-" + def.Region,
	})
	audit := messaging.NewTopic(stack, "AuditTopic", &messaging.TopicProps{Key: ps.Key, DisplayName: "Caro audit events"})

	// The Atlas connection string is set out of band (never in git or the template).
	mongoURI := awssecretsmanager.NewSecret(stack, jsii.String("MongoDBURI"), &awssecretsmanager.SecretProps{
		SecretName:    jsii.String(ConnectionSecretName(def.Region)),
		Description:   jsii.String(fmt.Sprintf("Connection string of Atlas cluster %s (project %s)", def.Atlas.Cluster, def.Atlas.ProjectID)),
		EncryptionKey: ps.Key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	for _, rule := range []string{"AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled"} {
		nagcheck.Suppress(mongoURI, rule,
			"The Atlas database user behind this URI is rotated by Atlas (temporary database users/X.509) and the new URI is put here by the operator runbook; Secrets Manager cannot rotate Atlas users.")
	}

	// fn are the per-function choices; everything else is common to all handlers.
	type fn struct {
		description string
		env         map[string]string
		database    bool                        // reads the Atlas connection string
		concurrency float64                     // reserved concurrency (gofunction's default when 0)
		timeout     awscdk.Duration             // gofunction's default when nil
		memory      float64                     // MiB; gofunction's default when 0
		secrets     []awssecretsmanager.ISecret // more secrets it reads (through the extension)
	}
	newFunction := func(id, folder string, o fn) *gofunction.Function {
		fnEnv := map[string]string{"CARO_REGION": def.Region, "CARO_VERSION": props.Version}
		secrets := append([]awssecretsmanager.ISecret{}, o.secrets...)
		if o.database {
			fnEnv["CARO_DATABASE"] = "caro"
			fnEnv["CARO_MONGODB_URI_SECRET_ARN"] = *mongoURI.SecretArn()
			secrets = append(secrets, mongoURI)
		}
		for k, v := range o.env {
			fnEnv[k] = v
		}
		f := gofunction.New(stack, id, &gofunction.Props{
			Folder: folder, Description: o.description, Environment: fnEnv, Key: ps.Key, AlarmTopic: mon.OnCall,
			Secrets: secrets, ReservedConcurrency: o.concurrency, Timeout: o.timeout, MemoryMiB: o.memory,
		})
		mon.WatchFunction(folder, f.Lambda)
		mon.WatchQueue(id+"DeadLetters", f.DeadLetters)
		ps.Functions[folder] = f
		return f
	}

	reserved := concurrencyFor(def.APILoad(), regionFunctions{atlas: def.Atlas.KeyAccess != nil, peer: props.PeerRegion != "", standby: !def.Primary})
	health := newFunction("Health", "health", fn{
		description: "GET /health: database reachability, region, version, restore marker; GET /auth/config: sign-in pool and client", database: true,
		concurrency: reserved.health,
	})
	handler := newFunction("ApiHandler", "api", fn{
		description: "The platform API: patients, notes, GDPR export and erasure", database: true,
		env:         map[string]string{"CARO_AUDIT_TOPIC_ARN": *audit.Topic.TopicArn()},
		concurrency: reserved.api,
	})
	audit.Topic.GrantPublish(handler.Role)
	// The same code reconciles the audit outbox every minute (a scheduled event), in a function of
	// its own so the reconciler never takes one of the API's executions.
	outbox := newFunction("AuditOutbox", "api", fn{
		description: "Audit outbox reconciler: publishes audit events still pending (every minute)", database: true,
		env:         map[string]string{"CARO_AUDIT_TOPIC_ARN": *audit.Topic.TopicArn()},
		concurrency: reserved.auditOutbox, timeout: awscdk.Duration_Minutes(jsii.Number(1)),
	})
	audit.Topic.GrantPublish(outbox.Role)

	// The traffic watcher reads every internal topic, the alarms (among them every DLQ's depth: it
	// never consumes DLQ messages, which must stay for redrive), the API access logs and the API's
	// security signal lines, and alerts on-call. One instance keeps its windowed counts whole.
	watcher := newFunction("TrafficWatch", "trafficwatch", fn{
		description: "Traffic watcher: failures and breach attempts to on-call", concurrency: reserved.trafficWatch,
		env: map[string]string{"CARO_ALERT_TOPIC_ARN": *mon.OnCall.TopicArn(), "CARO_AUDIT_TOPIC_ARN": *audit.Topic.TopicArn()},
	})
	mon.OnCall.GrantPublish(watcher.Role)
	audit.Subscribe("TrafficWatch", watcher.Lambda)
	mon.Alarms.Subscribe("TrafficWatch", watcher.Lambda)

	pool := identity.NewUserPool(stack, "Identity", &identity.Props{UserPoolName: "caro-" + def.Region})
	// The front end signs in against the serving region's pool and learns it from GET /auth/config
	// (internal/health), since no value crosses from this stack to the edge's config.json.
	health.Lambda.AddEnvironment(jsii.String("CARO_USER_POOL_ID"), pool.Pool.UserPoolId(), nil)
	health.Lambda.AddEnvironment(jsii.String("CARO_USER_POOL_CLIENT_ID"), pool.WebClient.UserPoolClientId(), nil)
	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String(def.HostedZoneID), ZoneName: jsii.String(def.Domain),
	})
	regionalName := fmt.Sprintf("api-%s.%s", def.Region, def.Domain)
	secrets := []string{edge.OriginSecretReference("")}
	if len(props.OriginSecretVersions) > 0 {
		secrets = nil
		for _, v := range props.OriginSecretVersions {
			secrets = append(secrets, edge.OriginSecretReference(v))
		}
	}
	restAPI := api.New(stack, "Api", &api.Props{
		Handler: handler.Lambda, Health: health.Lambda, UserPool: pool.Pool, Key: ps.Key, Zone: zone,
		OriginDomain: def.APIOriginDomain(), RegionalDomain: regionalName, OriginSecrets: secrets,
	})
	mon.WatchAPI(restAPI.RestAPI)
	awsevents.NewRule(stack, jsii.String("ReconcileAuditOutbox"), &awsevents.RuleProps{
		Description: jsii.String("Publish audit events still pending in the outbox"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(outbox.Lambda, nil)},
	})
	watchLogs := func(id string, group awslogs.ILogGroup, pattern awslogs.IFilterPattern) {
		awslogs.NewSubscriptionFilter(stack, jsii.String(id), &awslogs.SubscriptionFilterProps{
			LogGroup: group, FilterPattern: pattern,
			Destination: awslogsdestinations.NewLambdaDestination(watcher.Lambda, nil),
		})
	}
	watchLogs("WatchAccessLogs", restAPI.AccessLog, awslogs.FilterPattern_AllEvents())
	watchLogs("WatchApiSignals", handler.LogGroup, awslogs.FilterPattern_Literal(jsii.String(`{ $.caroSignal = "*" }`)))
	failover := dns.New(stack, "Dns", &dns.Props{
		Zone: zone, OriginName: def.APIOriginDomain(), RegionalName: regionalName,
		Target: *restAPI.Domain.DomainNameAliasDomainName(), RegionalTarget: *restAPI.RegionalDomainName.DomainNameAliasDomainName(),
		Region: def.Region, Primary: def.Primary,
	})
	accessLogs := accesslogs.New(stack, "AccessLogs")

	// The audit ledger: the writer appends every audit event to the hash chain and writes signed
	// checkpoints to a compliance-locked bucket replicated to the peer region.
	// Few writers: appends race on the chain head (conditional insert, retry), so contention only
	// costs retries.
	writer := newFunction("AuditWriter", "auditwriter", fn{
		description: "Appends audit events to the ledger", database: true,
		// The weekly whole-ledger verification runs in this function too (about 6,000 entries/s).
		concurrency: reserved.auditWriter, timeout: awscdk.Duration_Minutes(jsii.Number(15)), memory: 512,
	})
	// After a failover the ledger's checkpoints are split between the own bucket and this region's
	// replica of the peer's: the weekly verify reads both, with the peer's keys pinned by context
	// or, by default, from the parameter the peer's stack writes here (constructs/peershare).
	var peerVerification *ledger.PeerVerification
	if props.PeerRegion != "" {
		peerVerification = &ledger.PeerVerification{
			ReplicaBucketName: ReplicaBucketName(replicaLedger, *stack.Account(), def.Region),
			ReplicaKeyAlias:   replicaKeyAlias,
			PeerPublicKeys:    props.PeerLedgerPublicKeys,
		}
		if len(props.PeerLedgerPublicKeys) == 0 {
			peerVerification.PeerPublicKeysParameter = peershare.ParameterLedgerKeys(props.PeerRegion)
		}
	}
	ledgerInfra := ledger.New(stack, "Ledger", &ledger.Props{
		Writer: writer.Lambda, RetentionYears: def.RetentionYears, Key: ps.Key, AccessLogs: accessLogs,
		BucketName:        fmt.Sprintf("caro-ledger-%s-%s", *stack.Account(), def.Region),
		ReplicaBucketArn:  ReplicaBucketArn(replicaLedger, *stack.Account(), props.PeerRegion),
		ReplicaKeyArn:     ReplicaKeyArn(*stack.Account(), props.PeerRegion),
		ReplicaRegion:     props.PeerRegion,
		WriterDeadLetters: writer.DeadLetters, AlarmTopic: mon.OnCall,
		PeerVerification: peerVerification,
	})
	ledgerInfra.AddWriterEnvironment(writer.Lambda)
	audit.Subscribe("AuditWriter", writer.Lambda)

	// Encrypted logical backups, written by the backup engine (below), and a weekly restore test.
	backupFn := newFunction("BackupJob", "backup", fn{
		description: "Weekly restore verification of the newest backup", database: true,
		timeout: awscdk.Duration_Minutes(jsii.Number(15)), memory: 1024, concurrency: reserved.backup,
	})
	backups := backup.New(stack, "Backups", &backup.Props{
		BackupFunction: backupFn.Lambda, AccessLogs: accessLogs, AlarmTopic: mon.OnCall, ScheduledByEngine: true,
		StandbyRegion:       props.PeerRegion,
		ReplicaBucketArn:    ReplicaBucketArn(replicaBackup, *stack.Account(), props.PeerRegion),
		ReplicaBucketKeyArn: ReplicaKeyArn(*stack.Account(), props.PeerRegion),
		RetentionYears:      def.RetentionYears,
		UserPoolID:          *pool.Pool.UserPoolId(), UserPoolArn: *pool.Pool.UserPoolArn(),
	})
	if backups.Key != nil {
		// The peer names this key's replica by its tag (constructs/peershare gives the replica the same).
		awscdk.Tags_Of(backups.Key).Add(jsii.String(peershare.BackupKeyTagKey), jsii.String(peershare.BackupKeyTagValue), nil)
	}
	// The retention job: every day it erases the patient records whose retentionYears ended
	// (docs/data-lifecycle.md).
	retentionFn := newFunction("RetentionJob", "retention", fn{
		description: "Daily retention job: erases patient records whose retention ended", database: true,
		timeout: awscdk.Duration_Minutes(jsii.Number(15)), concurrency: reserved.retention,
	})
	retention.New(stack, "Retention", &retention.Props{Function: retentionFn.Lambda, RetentionYears: def.RetentionYears, AlarmTopic: mon.OnCall})
	// GDPR erasures are recorded beside the backups (erasures/), so restores re-apply them.
	backups.GrantErasureRecord(stack, "ErasureRegisterPolicy", handler.Lambda)
	// Atlas as code: encryption at rest with this region's platform key, and in the primary the
	// backup schedule whose snapshots are copied to the standby (so a restore there needs no
	// eu-west-1 key). Needs the project's cloud-provider access, set up once in Atlas.
	if ka := def.Atlas.KeyAccess; ka != nil {
		access := atlas.KeyAccess{AtlasAWSAccountARN: ka.AtlasAWSAccountARN, ExternalID: ka.ExternalID, AtlasRoleID: ka.RoleID}
		// Authorizes the key role in Atlas before encryption at rest, and switches the primary
		// cluster to the key after it (CloudFormation custom resources, internal/atlaskeyaccess),
		// with the Atlas API key MongoDB's extensions read.
		atlasCredentials := awssecretsmanager.Secret_FromSecretNameV2(stack, jsii.String("AtlasCredentials"), jsii.String(AtlasCredentialsSecretName))
		keyAccess := newFunction("AtlasKeyAccess", "atlaskeyaccess", fn{
			description: "Deploy-time custom resources: authorizes the Atlas key role, switches the primary cluster to the KMS key",
			env:         map[string]string{"CARO_ATLAS_CREDENTIALS_SECRET": AtlasCredentialsSecretName},
			secrets:     []awssecretsmanager.ISecret{atlasCredentials},
			concurrency: reserved.atlasKeyAccess, timeout: awscdk.Duration_Minutes(jsii.Number(10)),
		})
		if def.Primary {
			atlas.NewPrimary(stack, "Atlas", &atlas.PrimaryProps{
				ProjectID: def.Atlas.ProjectID, ClusterName: def.Atlas.Cluster, Region: def.Region,
				StandbyRegion: props.PeerRegion, Key: ps.Key, Access: access, ReplicationSpecID: def.Atlas.ReplicationSpecID,
				KeyAccessFunction: keyAccess.Lambda,
			})
		} else {
			atlas.NewStandby(stack, "Atlas", &atlas.StandbyProps{
				ProjectID: def.Atlas.ProjectID, ClusterName: def.Atlas.Cluster, Region: def.Region, Key: ps.Key, Access: access,
				KeyAccessFunction: keyAccess.Lambda,
			})
		}
	} else {
		awscdk.Annotations_Of(stack).AddInfo(jsii.String("regions/" + def.Region + ".json has no atlas.keyAccess: no Atlas settings are declared for this region"))
	}

	var peerBackupKey *string // this region's replica of the peer's key, when this stack declares it
	// What `caro failover` reads from the target region's stack (internal/providers/aws).
	output := func(name string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	output("UserPoolId", pool.Pool.UserPoolId(), "The user pool failover re-provisions users into")
	output("HealthCheckId", failover.HealthCheck.AttrHealthCheckId(), "The Route 53 health check of this region's API")
	output("BackupBucket", jsii.String(ReplicaBucketName(replicaBackup, *stack.Account(), def.Region)),
		"The bucket in this region holding the peer region's backups (replicated), restored on failover")
	if props.PeerBackupKeyArn != "" {
		// The override (context backupKeyArn:<peer>): this stack declares the replica itself.
		replica := backup.NewReplicaKey(stack, "PeerBackupKeyReplica", props.PeerBackupKeyArn)
		awscdk.Tags_Of(replica).Add(jsii.String(peershare.BackupKeyTagKey), jsii.String(peershare.BackupKeyTagValue), nil)
		peerBackupKey = replica.AttrArn()
		output("BackupKeyArn", peerBackupKey, "This region's replica of the peer's multi-Region backup key")
	}
	// The configuration's backup-key setting (caro backup, the restore's accepted keys) reads it here.
	output("OwnBackupKeyArn", backups.KeyArn, "This region's own multi-Region backup key (its backups are encrypted under it)")
	// The failover deploys the release the primary runs and refuses when the standby runs another.
	output("Release", jsii.String(props.Version), "The release this stack was synthesized as (context version; caro release publish puts its template in the release bucket)")
	// This region hands its peer a replica of its backup key and its ledger key (parameters the
	// peer reads at run time), so no value is copied between the regions' deploys.
	if props.PeerRegion != "" {
		share := newFunction("PeerShareFunction", "peershare", fn{
			description: "Deploy-time custom resource: replicates the backup key into the peer region and writes the peer's parameters",
			concurrency: reserved.peerShare, timeout: awscdk.Duration_Minutes(jsii.Number(5)),
		})
		peershare.New(stack, "PeerShare", &peershare.Props{
			Function: share.Lambda, Region: def.Region, PeerRegion: props.PeerRegion,
			BackupKeyArn: backups.KeyArn, SigningKey: ledgerInfra.SigningKey, ReplicateBackupKey: !props.PeerHoldsBackupKeyReplica,
		})
	}
	// The backup engine (Step Functions fanning out to Lambda workers): this region's backups every
	// backupEveryHours, and the pre-stage of the peer's backups as they arrive here.
	engineFn := newFunction("BackupEngineWorker", "backupengine", fn{
		description: "Backup engine worker: plans, seals and finalizes backups, pre-stages the peer's (Step Functions states)", database: true,
		timeout: awscdk.Duration_Minutes(jsii.Number(backupengine.WorkerTimeoutMinutes)), memory: 1769, concurrency: reserved.backupEngine,
	})
	engineProps := &backupengine.Props{Worker: engineFn.Lambda, Key: ps.Key, AlarmTopic: mon.OnCall, Bucket: backups.Bucket, KeyArn: backups.KeyArn,
		IntervalHours: def.BackupInterval().Hours(), MaxConcurrency: reserved.backupEngine, UserPoolID: *pool.Pool.UserPoolId(), UserPoolArn: *pool.Pool.UserPoolArn()}
	if props.PeerRegion != "" {
		engineProps.Standby = &backupengine.Standby{PeerRegion: props.PeerRegion, BucketName: ReplicaBucketName(replicaBackup, *stack.Account(), def.Region),
			BucketKeyArns: []string{fmt.Sprintf("arn:aws:kms:%s:%s:key/*", def.Region, *stack.Account())}, BucketKeyAliases: []string{"alias/" + replicaKeyAlias},
			PeerKeyArn: peerBackupKey, PeerKeyParameter: peershare.ParameterBackupKey(props.PeerRegion), PeerKeyTag: [2]string{peershare.BackupKeyTagKey, peershare.BackupKeyTagValue}}
	}
	engine := backupengine.New(stack, "BackupEngine", engineProps)
	output("BackupStateMachineArn", engine.Backup.StateMachineArn(), "The backup engine's backup state machine")
	if engine.Prestage != nil {
		output("PrestageStateMachineArn", engine.Prestage.StateMachineArn(), "The engine's pre-stage of the peer's backups: the failover's cold path starts it for the plan's backup")
	}
	// The failover's restore step reads this region's erasure register (erasures/, its API's
	// erasures) beside the replica's; the bucket's name is generated, so it is given here.
	output("OwnBackupBucket", backups.Bucket.BucketName(), "This region's own backup bucket (its erasure register, erasures/), read with BackupBucket by the failover's restore step")

	// A standby checks every 30 minutes that it could take over from its peer now (what a
	// failover plan checks), and pages on-call on a blocker.
	if !def.Primary && props.PeerRegion != "" {
		newReadiness(stack, props, readinessInputs{
			function: newFunction("ReadinessFunction", "readiness", fn{
				description: fmt.Sprintf("Readiness check every 30 minutes: could %s take over from %s now? Read-only", def.Region, props.PeerRegion),
				concurrency: reserved.readiness, timeout: awscdk.Duration_Minutes(jsii.Number(2)),
			}).Lambda,
			onCall: mon.OnCall, connectionSecret: mongoURI, key: ps.Key, pool: pool.Pool,
			healthCheckID: failover.HealthCheck.AttrHealthCheckId(), peerKeyReplica: peerBackupKey,
		})
	}

	for i, q := range append(audit.DeadLetterQueues, mon.Alarms.DeadLetterQueues...) {
		mon.WatchQueue(fmt.Sprintf("SubscriptionDeadLetters%d", i), q)
	}
	return ps
}
