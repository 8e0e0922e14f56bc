package aws

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/regions"
)

// platformCloud is what internal/config finds in a deployed platform: the target stack's outputs
// and its connection-string secret, and who the credentials belong to. Nothing else.
type platformCloud struct {
	outputs map[string]string
	uri     string
}

func (p platformCloud) StackOutputs(_ context.Context, region, _ string) (map[string]string, error) {
	if region != "eu-central-1" {
		return nil, config.ErrNotFound
	}
	return p.outputs, nil
}

func (p platformCloud) SecretString(_ context.Context, region, name string) (string, error) {
	if region+" "+name == "eu-central-1 caro/eu-central-1/mongodb-uri" {
		return p.uri, nil
	}
	return "", config.ErrNotFound
}

func (platformCloud) Parameter(context.Context, string, string) (string, error) {
	return "", config.ErrNotFound
}

func (platformCloud) Account(context.Context) (string, error) { return "111122223333", nil }

// TestPlanAndApplyWithOnlyTheConfigurationFiles: a failover configured from the committed files,
// the target stack's outputs and its connection-string secret alone (no environment variable at
// all) plans and applies: the published release deployed, a real encrypted backup restored into a
// real database through the post-restore protocol, the users re-created, DNS moved.
func TestPlanAndApplyWithOnlyTheConfigurationFiles(t *testing.T) {
	ctx := context.Background()
	w := newAWSWorld(t)
	w.resolver.primaryDown = true
	c, err := w.prov.ClientsFor(ctx, "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	// GIVEN the standby's database (empty) and, in its buckets, the source's encrypted backup with
	// its identity export, its own erasure register, and the published release 1.0.0
	ferret := localstack.StartFerretDBForTest(t)
	client, err := mongo.Connect(options.Client().ApplyURI(ferret.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	s3c := c.S3.(*s3.Client)
	for _, b := range []string{"caro-backups-eu-central-1", "cdk-hnb659fds-assets-111122223333-eu-central-1"} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	keyArn := w.cfn["eu-central-1"].outputs[OutputBackupKeyArn]
	replica := backup.NewS3Store(s3c, "caro-failover-eu-central-1", "")
	bk, err := backupKMS(c)
	if err != nil {
		t.Fatal(err)
	}
	seedPatients(t, client.Database("source"), "t1", "Ada", "Grace")
	m, err := backup.Create(ctx, backup.CreateOptions{Source: client, Database: "source", Store: replica, KMS: bk, KeyID: keyArn, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.WriteIdentityExport(ctx, backup.IdentityExportOptions{Store: replica, KMS: bk, KeyID: keyArn, BackupID: m.BackupID, Region: "eu-west-1"},
		[]backup.IdentityRecord{{Phone: "+31600000042", TenantID: "t1", Roles: []string{"clinician"}}}); err != nil {
		t.Fatal(err)
	}
	publishRelease(t, objstore.NewS3(s3c, "cdk-hnb659fds-assets-111122223333-eu-central-1", ""), "1.0.0", tmplV2)
	for _, r := range []string{"eu-west-1", "eu-central-1"} {
		w.cfn[r].outputs[OutputRelease] = "1.0.0"
	}
	w.cfn["eu-central-1"].outputs[OutputOwnBackupBucket] = "caro-backups-eu-central-1"
	// AND a configuration from the committed files and the deployed platform only
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	env, err := regions.DefaultEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	noEnvironment := func(string) (string, bool) { return "", false }
	cfg, err := (&config.Loader{Env: noEnvironment, Regions: &set, Environment: &env, Cloud: platformCloud{outputs: w.cfn["eu-central-1"].outputs, uri: ferret.URI()}}).
		Load(ctx, "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	pc := ConfigFrom(ctx, cfg)
	pc.Restore.Settle = time.Millisecond // the maintenance switch's settling time, not the point here
	p, err := New(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	// The world's fakes stand in for AWS, the health endpoints and DNS.
	p.ClientsFor, p.HealthURL, p.PublicHealthURL = w.prov.ClientsFor, w.prov.HealthURL, w.prov.PublicHealthURL
	p.Resolver, p.OriginSecret, p.PollInterval = w.prov.Resolver, w.prov.OriginSecret, w.prov.PollInterval

	// WHEN on-call plans with nothing but the target region
	plan, err := failover.MakePlan(ctx, p, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// THEN the plan pins the release and the backup, and lists each setting with its source
	checks := strings.Join(plan.Checks, "\n")
	for _, want := range []string{"setting failover-mongodb-uri = mongodb://127.0.0.1:", "(secret caro/eu-central-1/mongodb-uri in eu-central-1)",
		"setting failover-backup-bucket = caro-backups-eu-central-1 (stack output OwnBackupBucket of CaroPlatform-eu-central-1)",
		"setting release-bucket = cdk-hnb659fds-assets-111122223333-eu-central-1 (derived cdk-hnb659fds-assets-{account}-eu-central-1)",
		"release 1.0.0 published"} {
		if !strings.Contains(checks, want) {
			t.Errorf("the plan's checks lack %q:\n%s", want, checks)
		}
	}
	if plan.Backup.ID != m.BackupID || plan.Settings[SettingRelease] != "1.0.0" {
		t.Fatalf("plan backup %s release %s", plan.Backup.ID, plan.Settings[SettingRelease])
	}
	// WHEN it is applied THEN every step completes and the data is in the standby's database
	w.prov = p
	rep, err := w.apply(t, plan)
	if err != nil || !rep.OK {
		t.Fatalf("apply: %v %+v", err, rep)
	}
	n, err := client.Database(backup.DefaultDatabase).Collection("patients").CountDocuments(ctx, map[string]any{})
	if err != nil || n != 2 {
		t.Fatalf("patients restored: %d %v", n, err)
	}
	if _, ok := w.cognito.users["+31600000042"]; !ok {
		t.Error("the user of the identity export was not re-created")
	}
	if !strings.HasSuffix(w.cfn["eu-central-1"].templateURL, "/caro-releases/1.0.0/CaroPlatform-eu-central-1.template.json") {
		t.Errorf("deployed from %q", w.cfn["eu-central-1"].templateURL)
	}
}
