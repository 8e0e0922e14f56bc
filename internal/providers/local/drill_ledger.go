package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/localstack"
)

// The drill's audit ledger: a handful of entries and checkpoints, enough to cover a checkpoint
// series split by the backup, small enough to add nothing noticeable to the drill's time.
const (
	drillLedgerBeforeBackup = 6
	drillLedgerAfterBackup  = 6
	drillLedgerInterval     = 3
)

// DrillLedger is the audit ledger's part of the drill report. The primary appends entries and
// cuts checkpoints (signed by its local-kms key into its Object-Locked bucket, copied to the
// standby's replica bucket as S3 replication does) before and after the backup; the entries after
// it are the ones the restore rolls back, which the restore step recovers from the replica.
type DrillLedger struct {
	OK bool `json:"ok"`
	// EntriesBeforeBackup are in the backup; EntriesAfterBackup were appended after it and are
	// only in the checkpoints.
	EntriesBeforeBackup int `json:"entries_before_backup"`
	EntriesAfterBackup  int `json:"entries_after_backup"`
	// Checkpoints is how many checkpoints the primary cut and the replica holds.
	Checkpoints   int    `json:"checkpoints"`
	ReplicaBucket string `json:"replica_bucket"`
	// EntriesExpected are all entries the primary appended; EntriesRestored those in the standby's
	// ledger after the failover, the same events in the same order.
	EntriesExpected int `json:"entries_expected"`
	EntriesRestored int `json:"entries_restored"`
	// The verifier's result on the standby's ledger against the replica, with the pinned key.
	VerifyOK            bool   `json:"verify_ok"`
	EntriesVerified     uint64 `json:"entries_verified"`
	CheckpointsVerified int    `json:"checkpoints_verified"`
	UnanchoredEntries   uint64 `json:"unanchored_entries"`
	FirstBad            string `json:"first_bad,omitempty"`
}

// drillLedger is the drill's ledger state: the primary's signer and bucket, what was appended.
type drillLedger struct {
	signer  *ledger.KMSSigner
	pub     []byte
	bucket  *ledger.CheckpointBucket
	replica *ledger.CheckpointBucket
	ids     []string
	cps     int
}

func drillLedgerBucket(region string) string  { return "caro-ledger-" + region }
func drillLedgerReplica(region string) string { return "caro-ledger-replica-" + region }

// setupRegion gives region r its checkpoint buckets behind the Object Lock shim (versioned, as
// Object Lock requires): the primary its own bucket and a signing key, the standby its own and
// its replica of the primary's, with the primary's public key pinned.
func (l *drillLedger) setupRegion(ctx context.Context, r *drillRegion, reg *Region) error {
	r.ledgerS3 = httptest.NewServer(ledgertest.NewObjectLockShim(r.s3.Handler(), ledger.DefaultRetentionYears))
	reg.LedgerS3Endpoint = r.ledgerS3.URL
	reg.LedgerBucket = drillLedgerBucket(r.name)
	buckets := []string{reg.LedgerBucket}
	if r.name == DrillStandby {
		reg.LedgerReplicaBucket = drillLedgerReplica(r.name)
		buckets = append(buckets, reg.LedgerReplicaBucket)
	}
	sc := LedgerCheckpoints(r.name, *reg, reg.LedgerBucket).Client.(*s3.Client)
	for _, b := range buckets {
		if err := r.s3.CreateBucket(b); err != nil {
			return err
		}
		if _, err := sc.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
			return fmt.Errorf("enable versioning on %s: %w", b, err)
		}
	}
	switch r.name {
	case DrillPrimary:
		kc := kms.NewFromConfig(localstack.AWSConfig(r.name, reg.KMSEndpoint))
		out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
			Description: aws.String("caro audit ledger checkpoints " + r.name)})
		if err != nil {
			return fmt.Errorf("create the ledger signing key: %w", err)
		}
		reg.LedgerSigningKey = aws.ToString(out.KeyMetadata.Arn)
		l.signer = &ledger.KMSSigner{Client: kc, Key: reg.LedgerSigningKey}
		if l.pub, err = l.signer.PublicKey(ctx); err != nil {
			return fmt.Errorf("read the ledger signing key's public key: %w", err)
		}
		l.bucket = LedgerCheckpoints(r.name, *reg, reg.LedgerBucket)
	case DrillStandby:
		if l.signer == nil {
			return fmt.Errorf("the primary's ledger signing key is not set up before the standby")
		}
		reg.LedgerPublicKeys = map[string][]byte{l.signer.Key: l.pub}
		l.replica = LedgerCheckpoints(r.name, *reg, reg.LedgerReplicaBucket)
	}
	return nil
}

// appendEntries appends entries from..to-1 to the primary's ledger, events about the drill's
// records (IDs and hashes only, no personal data), running the checkpointer after each as the
// audit writer does; then replicates the new checkpoints.
func (d *Drill) appendLedger(ctx context.Context, from, to int) error {
	l := &d.ledger
	c, err := connect(ctx, d.env.Regions[DrillPrimary].MongoURI)
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	store := ledger.NewMongoStore(c.Database(d.env.Database))
	if err := store.EnsureIndexes(ctx); err != nil {
		return err
	}
	lg := &ledger.Ledger{Store: store}
	cpr := &ledger.Checkpointer{Entries: store, Records: store, Bucket: l.bucket, Signer: l.signer, Interval: drillLedgerInterval, MaxAge: 24 * time.Hour}
	patients := max(d.o.Records/2, 1)
	for i := from; i < to; i++ {
		kind, id := "patient", fmt.Sprintf("p-%07d", i%patients)
		if i%2 == 1 {
			kind, id = "note", fmt.Sprintf("n-%07d", i%max(d.o.Records-patients, 1))
		}
		state := sha256.Sum256([]byte(kind + "/" + id))
		ev := audit.Event{ID: audit.NewEventID(), Time: time.Now().UTC(), Actor: fmt.Sprintf("sub-%s-%d", DrillPrimary, i%10),
			TenantID: fmt.Sprintf("t-%02d", i%20), Action: kind + ":write", ResourceType: kind, ResourceID: id,
			Interface: audit.InterfaceAPI, RequestID: fmt.Sprintf("drill-%d", i), AfterHash: hex.EncodeToString(state[:])}
		if _, _, err := lg.Append(ctx, ev); err != nil {
			return fmt.Errorf("append entry %d: %w", i, err)
		}
		made, err := cpr.Run(ctx)
		if err != nil {
			return fmt.Errorf("checkpoint after entry %d: %w", i, err)
		}
		l.ids = append(l.ids, ev.ID)
		l.cps += len(made)
	}
	return d.replicateLedger(ctx)
}

// replicateLedger copies the checkpoint objects the replica lacks, with their Object Lock, from
// the primary's bucket into the standby's replica bucket, as S3 replication does on AWS.
func (d *Drill) replicateLedger(ctx context.Context) error {
	l := &d.ledger
	src, dst := l.bucket.Client.(*s3.Client), l.replica.Client.(*s3.Client)
	have := map[string]bool{}
	out, err := dst.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(l.replica.Name)})
	if err != nil {
		return err
	}
	for _, o := range out.Contents {
		have[aws.ToString(o.Key)] = true
	}
	stored, err := l.bucket.ListCheckpoints(ctx)
	if err != nil {
		return err
	}
	for _, sc := range stored {
		if have[sc.Key] {
			continue
		}
		obj, err := src.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket.Name), Key: aws.String(sc.Key)})
		if err != nil {
			return err
		}
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			return err
		}
		r, err := l.bucket.Retention(ctx, sc.Key)
		if err != nil {
			return fmt.Errorf("retention of %s: %w", sc.Key, err)
		}
		if _, err := dst.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.replica.Name), Key: aws.String(sc.Key), Body: bytes.NewReader(body),
			ObjectLockMode: s3types.ObjectLockMode(r.Mode), ObjectLockRetainUntilDate: aws.Time(r.RetainUntil),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			return fmt.Errorf("replicate %s: %w", sc.Key, err)
		}
	}
	return nil
}

// checkLedger verifies the standby's ledger after the failover against the replica and returns
// the report part and its problems.
func (d *Drill) checkLedger(ctx context.Context) (*DrillLedger, []string) {
	l := &d.ledger
	standby := d.env.Regions[DrillStandby]
	rep := &DrillLedger{EntriesBeforeBackup: drillLedgerBeforeBackup, EntriesAfterBackup: len(l.ids) - drillLedgerBeforeBackup,
		Checkpoints: l.cps, ReplicaBucket: standby.LedgerReplicaBucket, EntriesExpected: len(l.ids)}
	chk, err := VerifyLedger(ctx, DrillStandby, standby, d.env.Database)
	if err != nil {
		return rep, []string{"audit ledger: verify could not run: " + err.Error()}
	}
	v := chk.Report
	rep.VerifyOK, rep.EntriesVerified, rep.CheckpointsVerified, rep.UnanchoredEntries = v.OK, v.EntriesVerified, v.CheckpointsVerified, v.UnanchoredEntries
	rep.EntriesRestored = len(chk.EventIDs)
	var problems []string
	if v.FirstBad != nil {
		rep.FirstBad = v.FirstBad.String()
	}
	if !v.OK {
		problems = append(problems, fmt.Sprintf("audit ledger: verify fails on %s: %s", DrillStandby, rep.FirstBad))
	}
	if !slices.Equal(chk.EventIDs, l.ids) {
		problems = append(problems, fmt.Sprintf("audit ledger: %s holds %d entries, expected the primary's %d in order (%d after the backup)",
			DrillStandby, len(chk.EventIDs), len(l.ids), rep.EntriesAfterBackup))
	}
	if rep.CheckpointsVerified != l.cps || v.EntriesVerified != uint64(len(l.ids)) {
		problems = append(problems, fmt.Sprintf("audit ledger: %d entries and %d checkpoints verified, expected %d and %d",
			v.EntriesVerified, rep.CheckpointsVerified, len(l.ids), l.cps))
	}
	rep.OK = len(problems) == 0
	return rep, problems
}
