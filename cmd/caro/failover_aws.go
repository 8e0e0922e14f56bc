package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
	"github.com/carohealth/platform/internal/providers/local"
	"github.com/carohealth/platform/regions"
)

// Environment of the AWS provider (the on-call shell):
//
//	CARO_FAILOVER_MONGODB_URI  connection string of the target region's database (from the on-call vault)
//	CARO_ORIGIN_SECRET         the CloudFront origin secret, for direct regional /health requests
//	CARO_ARC_ENDPOINTS         region=url,... of the Route 53 ARC cluster (enables --dns arc)
//	CARO_CDK_OUT               the synthesized cloud assembly (default cdk.out)
func newAWSFailoverProvider(ctx context.Context, _ map[string]string) (failover.Provider, error) {
	defs, err := regions.Default()
	if err != nil {
		return nil, err
	}
	var arc *awsprov.RoutingControls
	if v := os.Getenv("CARO_ARC_ENDPOINTS"); v != "" {
		arc = &awsprov.RoutingControls{}
		for _, part := range strings.Split(v, ",") {
			region, url, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				return nil, fmt.Errorf("CARO_ARC_ENDPOINTS entry %q is not region=url", part)
			}
			arc.Endpoints = append(arc.Endpoints, awsprov.ClusterEndpoint{URL: url, Region: region})
		}
	}
	cache := map[string]*awsprov.Clients{}
	clientsFor := func(ctx context.Context, region string) (*awsprov.Clients, error) {
		if c, ok := cache[region]; ok {
			return c, nil
		}
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, fmt.Errorf("AWS configuration for %s: %w", region, err)
		}
		c := &awsprov.Clients{
			CloudFormation: cfn.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg), KMS: kms.NewFromConfig(cfg),
			Cognito: cip.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg),
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
	asm := os.Getenv("CARO_CDK_OUT")
	if asm == "" {
		asm = "cdk.out"
	}
	p := &awsprov.Provider{
		Regions: defs, ClientsFor: clientsFor, Catalog: backupCatalog{}, Restorer: backupRestorer{}, Identities: identityExport{},
		AssemblyDir: asm, Resolver: net.DefaultResolver, OriginSecret: os.Getenv("CARO_ORIGIN_SECRET"),
	}
	// --restore atlas when Atlas Admin API credentials are in the environment.
	if creds, err := atlas.CredentialsFromEnv(os.Getenv); err == nil {
		client, err := atlas.NewClient(ctx, creds, os.Getenv(atlas.EnvBaseURL), nil)
		if err != nil {
			return nil, err
		}
		a := &atlasSnapshots{defs: defs, r: atlas.NewRestorer(client)}
		p.AtlasCatalog, p.AtlasRestorer = a, a
	}
	return p, nil
}

// atlasSnapshots adapts internal/atlas (cloud-backup snapshots copied to the target region) to
// the AWS provider: the snapshot is the plan's backup, its age the RPO.
type atlasSnapshots struct {
	defs regions.Set
	r    *atlas.Restorer
}

func (a *atlasSnapshots) Latest(ctx context.Context, _ *awsprov.Clients, _ map[string]string, source, target string) (failover.BackupRef, error) {
	src, err := a.defs.Get(source)
	if err != nil {
		return failover.BackupRef{}, err
	}
	snap, err := a.r.PickSnapshot(ctx, src.Atlas.ProjectID, src.Atlas.Cluster, target)
	if err != nil {
		return failover.BackupRef{}, err
	}
	return failover.BackupRef{ID: snap.GetId(), TakenAt: snap.GetCreatedAt(),
		Location: fmt.Sprintf("Atlas snapshot %s of %s/%s (copy in %s)", snap.GetId(), src.Atlas.ProjectID, src.Atlas.Cluster, target)}, nil
}

func (a *atlasSnapshots) Restored(ctx context.Context, c *awsprov.Clients, outs map[string]string, plan *failover.Plan) (bool, error) {
	if os.Getenv("CARO_FAILOVER_MONGODB_URI") == "" {
		return false, nil // the restore job itself resumes a job it started before
	}
	return backupRestorer{}.Restored(ctx, c, outs, plan)
}

// Restore restores the snapshot and then re-applies the erasure register (the target's replica of
// the source's backup bucket and its own backup bucket, read as one) to the restored database: a
// snapshot brings back every patient erased after it was taken. The register is read before the job starts, and the target URI is required, so a
// restore whose erasures cannot be re-applied is never started.
func (a *atlasSnapshots) Restore(ctx context.Context, c *awsprov.Clients, outs map[string]string, plan *failover.Plan, progress failover.Progress) (string, error) {
	src, err := a.defs.Get(plan.From)
	if err != nil {
		return "", err
	}
	dst, err := a.defs.Get(plan.To)
	if err != nil {
		return "", err
	}
	uri := os.Getenv("CARO_FAILOVER_MONGODB_URI")
	if uri == "" {
		return "", errors.New("an Atlas snapshot restore brings back patients erased since the snapshot: set CARO_FAILOVER_MONGODB_URI to the target cluster's connection string (on-call vault) so the erasure register is re-applied after it, then resume; nothing was started")
	}
	register, names, err := failoverErasureRegister(c, outs, plan)
	if err != nil {
		return "", err
	}
	if list, err := register.List(ctx, time.Time{}); err != nil {
		return "", fmt.Errorf("the erasure register in %s (%s) cannot be read, so no snapshot restore was started: %w (check the role may list and read it, then resume)",
			strings.Join(names, " and "), erasure.Prefix, err)
	} else {
		progress("erasure register read: %d erasures to re-apply after the snapshot restore", len(list))
	}
	res, err := a.r.Restore(ctx, atlas.SnapshotRestoreOptions{
		SourceProjectID: src.Atlas.ProjectID, SourceCluster: src.Atlas.Cluster,
		TargetProjectID: dst.Atlas.ProjectID, TargetCluster: dst.Atlas.Cluster, TargetRegion: plan.To,
		UnavailableRegions: []string{plan.From}, Progress: func(s string) { progress("%s", s) },
	})
	if err != nil {
		return "", err
	}
	db, err := targetDB(ctx)
	if err != nil {
		return "", err
	}
	defer db.Disconnect(context.Background())
	// First of all, before anything can append to the rolled-back ledger: hold it, then recover it
	// (which removes the hold), and only then publish the restore's own audit events.
	if err := holdAfterSnapshotRestore(ctx, db.Database(backup.DefaultDatabase), res, progressLines(progress)); err != nil {
		return "", fmt.Errorf("snapshot %s was restored, but %w (resume the failover: it places the hold again)", res.SnapshotID, err)
	}
	ledgerNote := recoverLedgerAfterRestore(ctx, c, db.Database(backup.DefaultDatabase), plan, progress)
	origin := commandOrigin(ctx, plan.To, audit.InterfaceJob)
	auditSnapshotRestore(ctx, progressLines(progress), uri, backup.DefaultDatabase, plan.To, res, origin)
	sum, err := reapplyErasures(ctx, register, uri, backup.DefaultDatabase, time.Time{}, origin, plan.To, progressLines(progress))
	if err != nil {
		return "", fmt.Errorf("snapshot %s was restored, but %w", res.SnapshotID, err)
	}
	// The marker goes last: a step that is re-checked after a crash redoes the re-application.
	m := local.RestoreMarker{ID: "restore", BackupID: plan.Backup.ID, PlanID: plan.ID, RestoredAt: time.Now().UTC(), From: plan.From}
	if _, err := db.Database(backup.DefaultDatabase).Collection(local.MarkerCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: "restore"}}, m, options.Replace().SetUpsert(true)); err != nil {
		return "", fmt.Errorf("write restore marker: %w", err)
	}
	return fmt.Sprintf("Atlas restore job %s of snapshot %s (taken %s) into %s/%s finished; %d registered erasures re-applied (%d patients erased again); %s",
		res.RestoreJobID, res.SnapshotID, res.SnapshotTime.UTC().Format(time.RFC3339), dst.Atlas.ProjectID, dst.Atlas.Cluster, sum.Applied, sum.Patients, ledgerNote), nil
}

// CheckInputs implements awsprov.RestoreInputs: plan and the apply preflight refuse an Atlas
// restore without the target's connection string, which the restore step needs to re-apply the
// erasure register after the snapshot restore (it refuses at that point otherwise, after the deploy).
func (a *atlasSnapshots) CheckInputs(target string) (string, error) {
	return targetURIInput(target, "an Atlas snapshot brings back every patient erased since it was taken, and the restore step re-applies the erasure register to the restored cluster through this connection string")
}

// CheckInputs implements awsprov.RestoreInputs: the backup restore writes into the target database.
func (backupRestorer) CheckInputs(target string) (string, error) {
	return targetURIInput(target, "the restore step loads the backup into the target cluster through this connection string")
}

// targetURIInput checks CARO_FAILOVER_MONGODB_URI without ever printing it (it holds credentials).
func targetURIInput(target, why string) (string, error) {
	uri := os.Getenv("CARO_FAILOVER_MONGODB_URI")
	switch {
	case uri == "":
		return "", fmt.Errorf("CARO_FAILOVER_MONGODB_URI is not set (%s): set it to the connection string of the %s cluster from the on-call vault, then run the command again", why, target)
	case !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://"):
		return "", fmt.Errorf("CARO_FAILOVER_MONGODB_URI is not a MongoDB connection string (it must start with mongodb:// or mongodb+srv://): set it to the connection string of the %s cluster from the on-call vault, then run the command again", target)
	}
	return "CARO_FAILOVER_MONGODB_URI is set: the restore reaches the " + target + " cluster", nil
}

// progressLines adapts a failover progress function to an io.Writer, one call per line.
type progressLines failover.Progress

func (p progressLines) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		p("%s", l)
	}
	return len(b), nil
}

// The backup adapters connect the AWS provider to internal/backup: backups replicated to the
// target's bucket, decrypted with the target's replica of the multi-Region key.

func backupStore(c *awsprov.Clients, outs map[string]string) (backup.ObjectStore, error) {
	s3c, ok := c.S3.(*s3.Client)
	if !ok {
		return nil, errors.New("backup store needs an S3 client")
	}
	return backup.NewS3Store(s3c, outs[awsprov.OutputBackupBucket], ""), nil
}

func backupKMS(c *awsprov.Clients) (backup.KMS, error) {
	k, ok := c.KMS.(*kms.Client)
	if !ok {
		return nil, errors.New("backup KMS needs a KMS client")
	}
	return backup.NewAWSKMS(k), nil
}

type backupCatalog struct{}

func (backupCatalog) Latest(ctx context.Context, c *awsprov.Clients, outs map[string]string, source, _ string) (failover.BackupRef, error) {
	store, err := backupStore(c, outs)
	if err != nil {
		return failover.BackupRef{}, err
	}
	list, err := backup.List(ctx, store, time.Now())
	if err != nil {
		return failover.BackupRef{}, err
	}
	for _, b := range list {
		if b.Problem == "" && b.SourceRegion == source {
			return failover.BackupRef{ID: b.BackupID, TakenAt: b.CreatedAt, Records: b.Documents,
				Location: "s3://" + outs[awsprov.OutputBackupBucket] + "/" + backup.ManifestKey(b.BackupID)}, nil
		}
	}
	return failover.BackupRef{}, fmt.Errorf("no readable backup of %s in s3://%s: check the replication of the backup bucket", source, outs[awsprov.OutputBackupBucket])
}

type backupRestorer struct{}

func targetDB(ctx context.Context) (*mongo.Client, error) {
	uri := os.Getenv("CARO_FAILOVER_MONGODB_URI")
	if uri == "" {
		return nil, errors.New("no target database: set CARO_FAILOVER_MONGODB_URI to the target region's connection string (on-call vault)")
	}
	return mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
}

func (backupRestorer) Restored(ctx context.Context, _ *awsprov.Clients, _ map[string]string, plan *failover.Plan) (bool, error) {
	c, err := targetDB(ctx)
	if err != nil {
		return false, err
	}
	defer c.Disconnect(context.Background())
	var m local.RestoreMarker
	err = c.Database(backup.DefaultDatabase).Collection(local.MarkerCollection).FindOne(ctx, bson.D{{Key: "_id", Value: "restore"}}).Decode(&m)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil && m.BackupID == plan.Backup.ID && m.PlanID == plan.ID, err
}

func (backupRestorer) Restore(ctx context.Context, c *awsprov.Clients, outs map[string]string, plan *failover.Plan, progress failover.Progress) (string, error) {
	store, err := backupStore(c, outs)
	if err != nil {
		return "", err
	}
	bk, err := backupKMS(c)
	if err != nil {
		return "", err
	}
	db, err := targetDB(ctx)
	if err != nil {
		return "", err
	}
	defer db.Disconnect(context.Background())
	// Writes of a restore killed mid-load may still be landing in its staging collections.
	if err := local.WaitStagingQuiet(ctx, db.Database(backup.DefaultDatabase), progress); err != nil {
		return "", err
	}
	// The erasure register is the backups' bucket's and the target's own backup bucket's.
	registers, registerNames, err := failoverErasureStores(c, outs, plan)
	if err != nil {
		return "", err
	}
	// The failover runs the restore as a job of the operator who applies the plan.
	rep, err := backup.Restore(ctx, backup.RestoreOptions{BackupID: plan.Backup.ID, Store: store, KMS: bk, KeyID: outs[awsprov.OutputBackupKeyArn],
		ErasureStores: registers[1:], ErasureStoreNames: registerNames, Target: db, Replace: true, Origin: commandOrigin(ctx, plan.To, audit.InterfaceJob), Progress: func(p backup.Progress) {
			if p.Message != "" {
				progress("%s", p.Message)
			}
		}})
	if err != nil {
		return "", err
	}
	// Before the marker: a resumed step restores again and recovers again (Recover is idempotent).
	// Before the restore's own events are published: the restore held the ledger, and the
	// recovery removes the hold, so the writer then appends them instead of refusing them.
	ledgerNote := recoverLedgerAfterRestore(ctx, c, db.Database(rep.Database), plan, progress)
	deliverAuditEvents(ctx, progressLines(progress), plan.To, db.Database(rep.Database), rep.AuditEvents, rep.UnstoredAuditEvent)
	m := local.RestoreMarker{ID: "restore", BackupID: rep.BackupID, PlanID: plan.ID, Documents: rep.Documents, RestoredAt: time.Now().UTC(), From: rep.SourceRegion}
	if _, err := db.Database(rep.Database).Collection(local.MarkerCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: "restore"}}, m, options.Replace().SetUpsert(true)); err != nil {
		return "", fmt.Errorf("write restore marker: %w", err)
	}
	return fmt.Sprintf("restored backup %s: %d documents, counts and checksums verified; %s", rep.BackupID, rep.Documents, ledgerNote), nil
}

type identityExport struct{}

func (identityExport) Identities(ctx context.Context, c *awsprov.Clients, outs map[string]string, plan *failover.Plan) ([]awsprov.Identity, error) {
	store, err := backupStore(c, outs)
	if err != nil {
		return nil, err
	}
	bk, err := backupKMS(c)
	if err != nil {
		return nil, err
	}
	id := plan.Backup.ID
	if plan.Restore == "atlas" {
		// Snapshots carry no identity export: use the newest logical backup's.
		b, err := backupCatalog{}.Latest(ctx, c, outs, plan.From, plan.To)
		if err != nil {
			return nil, fmt.Errorf("identity export for an Atlas restore: %w", err)
		}
		id = b.ID
	}
	recs, err := backup.ReadIdentityExport(ctx, backup.IdentityExportOptions{Store: store, KMS: bk, KeyID: outs[awsprov.OutputBackupKeyArn], BackupID: id})
	if err != nil {
		return nil, err
	}
	out := make([]awsprov.Identity, len(recs))
	for i, r := range recs {
		out[i] = awsprov.Identity{Phone: r.Phone, TenantID: r.TenantID, Roles: r.Roles, OldSubject: r.OldSubject}
	}
	return out, nil
}
