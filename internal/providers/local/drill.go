package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/localstack"
	"github.com/carohealth/platform/internal/prestage"
	"github.com/carohealth/platform/internal/restore"
)

// DefaultDrillRecords is how many records the drill seeds unless told otherwise.
const DefaultDrillRecords = 50000

// Drill regions: the names of the committed region definitions, on two loopback addresses.
const (
	DrillPrimary = "eu-west-1"
	DrillStandby = "eu-central-1"
	drillZone    = "caro.test."
	drillName    = "api-origin.caro.test."
	drillBucket  = "caro-backups"
)

var drillIPs = map[string]string{DrillPrimary: "127.0.1.1", DrillStandby: "127.0.2.1"}

// DrillOptions configure a drill.
type DrillOptions struct {
	Records int
	// KillAt names a step at which the apply is killed (SIGKILL) mid-step and then resumed.
	KillAt string
	// Caro is the command line that runs caro (the drill runs `failover plan`, `failover apply` and
	// the regions' API servers as real subprocesses); CaroEnv is added to their environment.
	Caro    []string
	CaroEnv []string
	// WorkDir holds the environment file, plan, journal and logs; empty means a temporary folder
	// that is removed afterwards.
	WorkDir string
	// Progress receives the drill's progress lines (stderr).
	Progress io.Writer
	// MaintenanceSettle shortens the restore's wait for the maintenance switch to settle (0: the
	// real maintenance.Settle); tests set it, since no API writes in a drill.
	MaintenanceSettle time.Duration
	// Cold skips the standby's pre-stage: the failover's restore step loads the backup (the cold
	// path) instead of activating the copy the standby staged when the backup arrived.
	Cold bool
}

// DrillStep is one step's line in the drill report.
type DrillStep struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Status  string  `json:"status"`
	Detail  string  `json:"detail,omitempty"`
	// StartSeconds and EndSeconds place the step on the drill's timeline: from the primary's death
	// to the step's first start and to its completion, read from the journal (a step killed and
	// resumed spans both runs).
	StartSeconds float64 `json:"start_seconds"`
	EndSeconds   float64 `json:"end_seconds"`
}

// DrillReport is the drill's result (`caro failover drill -o json`).
type DrillReport struct {
	OK bool `json:"ok"`
	// RTOSeconds is wall time from the primary's death to the confirmed failover: plan, apply,
	// and (with --kill-at) the killed apply and its resume.
	RTOSeconds float64 `json:"rto_seconds"`
	// ApplyRTOSeconds is the engine's RTO: first apply start to completion, from the journal.
	ApplyRTOSeconds float64 `json:"apply_rto_seconds"`
	RPOSeconds      float64 `json:"rpo_seconds"`
	RecordsExpected int64   `json:"records_expected"`
	RecordsRestored int64   `json:"records_restored"`
	// Checksums are SHA-256 over every collection's documents in _id order, primary before the
	// drill and standby after it.
	ChecksumExpected string `json:"checksum_expected"`
	ChecksumRestored string `json:"checksum_restored"`
	UsersExpected    int    `json:"users_expected"`
	UsersRestored    int64  `json:"users_restored"`
	DNSBefore        string `json:"dns_before"`
	DNSAfter         string `json:"dns_after"`
	// HealthAfter is the standby's /health reached through the DNS name.
	HealthAfter *Health     `json:"health_after,omitempty"`
	Steps       []DrillStep `json:"steps"`
	KilledAt    string      `json:"killed_at,omitempty"`
	Resumed     bool        `json:"resumed"`
	Applies     int         `json:"applies"`
	// EngineSeconds is the engine's own time in the last apply (journal, lock, checks), and
	// EngineOverheadPercent its share of that apply's wall time.
	EngineSeconds         float64  `json:"engine_seconds"`
	EngineOverheadPercent float64  `json:"engine_overhead_percent"`
	SetupSeconds          float64  `json:"setup_seconds"`
	SeedSeconds           float64  `json:"seed_seconds"`
	BackupSeconds         float64  `json:"backup_seconds"`
	PlanSeconds           float64  `json:"plan_seconds"`
	Problems              []string `json:"problems,omitempty"`
	PlanID                string   `json:"plan_id,omitempty"`
	// Ledger is the audit ledger's rehearsal: appended before and after the backup in the primary,
	// recovered by the restore step, verified in the standby.
	Ledger *DrillLedger `json:"ledger,omitempty"`
	// Readiness is `caro failover readiness` of the standby before the disaster.
	Readiness *failover.ReadinessReport `json:"readiness,omitempty"`
	// RestorePath is how the restore step brought the backup in: "staged" (the standby had
	// pre-staged it: activated), "cold" (loaded), "wait".
	RestorePath string `json:"restore_path"`
	// RestoreSeconds is the restore step's time; RestoreRecordsPerSecond the records it brought
	// back per second of it.
	RestoreSeconds          float64 `json:"restore_seconds"`
	RestoreRecordsPerSecond float64 `json:"restore_records_per_second"`
	// Prestage is the standby's pre-stage of the backup when it arrived (before the primary died;
	// not part of the RTO), as recorded for readiness.
	Prestage *prestage.Record `json:"prestage,omitempty"`
	// ColdRTOSeconds is the RTO the cold path would have had in this run: the RTO with the
	// pre-stage's load in place of the activation (measured directly by `caro drill --cold`).
	ColdRTOSeconds float64 `json:"cold_rto_seconds,omitempty"`
	// CaroPeakRSSMB is the peak memory of caro's own processes (the drill with its in-process
	// seed, backup and pre-stage; plan; apply; the regions' APIs), ServerPeakRSSMB the local
	// servers' (FerretDB, local-kms), in MB.
	CaroPeakRSSMB   map[string]float64 `json:"caro_peak_rss_mb,omitempty"`
	ServerPeakRSSMB map[string]float64 `json:"server_peak_rss_mb,omitempty"`
}

// drillRegion is one started local region.
type drillRegion struct {
	name string
	db   *localstack.FerretDB
	kms  *localstack.KMS
	s3   *localstack.S3
	key  string
	port int
	pid  int
	// ledgerS3 serves s3 through the Object Lock shim for the audit ledger's buckets.
	ledgerS3 *httptest.Server
}

func (d *drillRegion) stop() {
	if d.pid > 0 {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
		d.pid = 0
	}
	if d.db != nil {
		_ = d.db.Stop()
		d.db = nil
	}
	if d.kms != nil {
		_ = d.kms.Stop()
		d.kms = nil
	}
	if d.ledgerS3 != nil {
		d.ledgerS3.Close()
		d.ledgerS3 = nil
	}
	if d.s3 != nil {
		_ = d.s3.Stop()
		d.s3 = nil
	}
}

// Drill runs a complete local failover.
type Drill struct {
	mu                 sync.Mutex
	caroRSS, serverRSS map[string]float64
	o                  DrillOptions
	log                func(format string, args ...any)
	regions            map[string]*drillRegion
	knot               *localstack.Knot
	env                *Env
	envPath            string
	ledger             drillLedger
}

// RunDrill runs a drill: start two regions and DNS, seed records, back up, kill the primary, plan
// and apply the failover as subprocesses (killing and resuming the apply with KillAt), and prove
// the result. Everything it started is stopped before it returns.
func RunDrill(ctx context.Context, o DrillOptions) (*DrillReport, error) {
	if o.Records <= 0 {
		o.Records = DefaultDrillRecords
	}
	if o.KillAt != "" && !slices.Contains(StepNames, o.KillAt) {
		return nil, fmt.Errorf("--kill-at %q is not a step: use one of %s", o.KillAt, strings.Join(StepNames, ", "))
	}
	if len(o.Caro) == 0 {
		return nil, errors.New("drill: no caro command to run plan and apply with")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	// Subprocess output is copied by exec's goroutines while the drill logs: serialize the writes.
	o.Progress = &syncWriter{w: o.Progress}
	d := &Drill{o: o, regions: map[string]*drillRegion{}}
	d.log = func(format string, args ...any) { fmt.Fprintf(o.Progress, "drill: "+format+"\n", args...) }
	if d.o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "caro-drill-")
		if err != nil {
			return nil, err
		}
		d.o.WorkDir = dir
		defer os.RemoveAll(dir)
	}
	defer d.cleanup()
	return d.run(ctx)
}

func (d *Drill) cleanup() {
	if d.env != nil {
		for name := range d.env.Regions {
			if b, err := os.ReadFile(filepath.Join(d.env.StateDir, "api-"+name+".pid")); err == nil {
				if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	for _, r := range d.regions {
		r.stop()
	}
	if d.knot != nil {
		_ = d.knot.Stop()
	}
}

func (d *Drill) run(ctx context.Context) (*DrillReport, error) {
	rep := &DrillReport{KilledAt: d.o.KillAt, RecordsExpected: int64(d.o.Records)}
	t0 := time.Now()
	if err := d.setup(ctx); err != nil {
		return rep, fmt.Errorf("drill setup: %w", err)
	}
	rep.SetupSeconds = time.Since(t0).Seconds()
	primary := d.env.Regions[DrillPrimary]
	standby := d.env.Regions[DrillStandby]

	var err error
	if rep.DNSBefore, err = Resolve(ctx, d.env); err != nil {
		return rep, err
	}
	if h, err := GetHealth(ctx, primary.APIBase()); err != nil || h.Region != DrillPrimary {
		return rep, fmt.Errorf("drill: the primary's API does not answer before the drill: %v", err)
	}

	t := time.Now()
	users, err := d.seed(ctx, primary.MongoURI)
	if err != nil {
		return rep, fmt.Errorf("drill seed: %w", err)
	}
	rep.UsersExpected = len(users)
	if rep.ChecksumExpected, rep.RecordsExpected, err = Checksum(ctx, primary.MongoURI, d.env.Database); err != nil {
		return rep, err
	}
	rep.SeedSeconds = time.Since(t).Seconds()
	d.log("seeded %d records and %d users in %s in %.1fs", rep.RecordsExpected, len(users), DrillPrimary, rep.SeedSeconds)

	if err := d.appendLedger(ctx, 0, drillLedgerBeforeBackup); err != nil {
		return rep, fmt.Errorf("drill audit ledger: %w", err)
	}
	t = time.Now()
	backupID, err := d.backup(ctx, users)
	if err != nil {
		return rep, fmt.Errorf("drill backup: %w", err)
	}
	rep.BackupSeconds = time.Since(t).Seconds()
	d.log("encrypted backup %s (with identity export) written to %s's bucket in %.1fs", backupID, DrillStandby, rep.BackupSeconds)
	// The backup arrives in the standby region: the standby pre-stages it (unless --cold).
	if !d.o.Cold {
		t = time.Now()
		rec, err := d.prestage(ctx, backupID)
		if err != nil {
			return rep, fmt.Errorf("drill pre-stage: %w", err)
		}
		rep.Prestage = &rec
		d.log("the standby pre-staged backup %s: %d documents, verified %v, in %.1fs (not part of the RTO)", backupID, rec.Documents, rec.Verified, time.Since(t).Seconds())
	}
	// Audit entries after the backup: the restore rolls them back, only the checkpoints keep them.
	if err := d.appendLedger(ctx, drillLedgerBeforeBackup, drillLedgerBeforeBackup+drillLedgerAfterBackup); err != nil {
		return rep, fmt.Errorf("drill audit ledger: %w", err)
	}
	d.log("audit ledger: %d entries (%d after the backup) in %d checkpoints signed into %s, replicated to %s's %s",
		len(d.ledger.ids), drillLedgerAfterBackup, d.ledger.cps, drillLedgerBucket(DrillPrimary), DrillStandby, drillLedgerReplica(DrillStandby))

	// What on-call sees before the disaster: the standby's readiness (the scheduled check's view).
	if err := d.readiness(ctx, rep); err != nil {
		return rep, err
	}

	// The disaster: the primary region goes away entirely (API, database, KMS, S3).
	d.serverMemory(DrillPrimary)
	d.log("killing region %s (API, FerretDB, local-kms, S3)", DrillPrimary)
	d.regions[DrillPrimary].stop()
	_ = os.Remove(filepath.Join(d.env.StateDir, "api-"+DrillPrimary+".pid"))
	dead := time.Now()

	planPath := filepath.Join(d.o.WorkDir, "plan.json")
	var planOut, planErr bytes.Buffer
	if err := d.caro(ctx, nil, &planOut, &planErr, "failover", "plan", "--provider", "local", "--env", d.envPath,
		"--from", DrillPrimary, "--to", DrillStandby, "--restore", "backup", "--out", planPath); err != nil {
		return rep, fmt.Errorf("caro failover plan: %w\n%s", err, planErr.String())
	}
	rep.PlanSeconds = time.Since(dead).Seconds()
	d.log("plan written in %.2fs:\n%s", rep.PlanSeconds, indent(planOut.String()))

	applyArgs := []string{"failover", "apply", planPath, "--yes", "-o", "json", "--state-dir", d.env.StateDir}
	if d.o.KillAt != "" {
		if err := d.applyAndKill(ctx, applyArgs); err != nil {
			return rep, err
		}
	}
	var out bytes.Buffer
	prefixed := &linePrefixer{w: d.o.Progress, prefix: "apply: "}
	applyErr := d.caro(ctx, nil, &out, prefixed, applyArgs...)
	rep.RTOSeconds = time.Since(dead).Seconds()
	var frep failover.Report
	if err := json.Unmarshal(out.Bytes(), &frep); err != nil {
		return rep, fmt.Errorf("caro failover apply: %v; output %q", applyErr, out.String())
	}
	rep.PlanID, rep.ApplyRTOSeconds, rep.RPOSeconds, rep.Resumed, rep.Applies = frep.PlanID, frep.RTOSeconds, frep.RPOSeconds, frep.Resumed, frep.Applies
	rep.EngineSeconds = frep.EngineSeconds
	if frep.ApplySeconds > 0 {
		rep.EngineOverheadPercent = 100 * frep.EngineSeconds / frep.ApplySeconds
	}
	times := stepTimes(ctx, d.env.StateDir, frep.PlanID)
	for _, s := range frep.Steps {
		st := DrillStep{Name: s.Name, Seconds: s.Seconds, Status: s.Status, Detail: s.Detail}
		if t, ok := times[s.Name]; ok && !t.StartedAt.IsZero() && !t.DoneAt.IsZero() {
			st.StartSeconds, st.EndSeconds = t.StartedAt.Sub(dead).Seconds(), t.DoneAt.Sub(dead).Seconds()
		}
		rep.Steps = append(rep.Steps, st)
	}
	if applyErr != nil {
		rep.Problems = append(rep.Problems, "apply failed: "+frep.Error)
	}
	for _, s := range rep.Steps {
		if s.Name != StepRestore {
			continue
		}
		rep.RestoreSeconds = s.Seconds
		if path, _, ok := strings.Cut(s.Detail, " path"); ok && !strings.Contains(path, " ") {
			rep.RestorePath = path
		}
		if s.Seconds > 0 {
			rep.RestoreRecordsPerSecond = float64(rep.RecordsExpected) / s.Seconds
		}
	}
	if rep.Prestage != nil && rep.RestorePath == string(restore.PathStaged) {
		rep.ColdRTOSeconds = rep.RTOSeconds - rep.RestoreSeconds + rep.Prestage.Seconds
	}
	d.serverMemory(DrillStandby)
	d.caroMemory(rep)

	// Prove it: DNS, API through DNS, every record and user.
	if rep.DNSAfter, err = Resolve(ctx, d.env); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	} else if rep.DNSAfter != standby.IP {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s resolves to %s, not the standby's %s", d.env.Name, rep.DNSAfter, standby.IP))
	}
	if rep.DNSAfter != "" {
		h, err := GetHealth(ctx, fmt.Sprintf("http://%s:%d/api", rep.DNSAfter, standby.APIPort))
		rep.HealthAfter = h
		switch {
		case err != nil:
			rep.Problems = append(rep.Problems, "API through DNS: "+err.Error())
		case h.Region != DrillStandby || h.Restore == nil || h.Restore.BackupID != backupID:
			rep.Problems = append(rep.Problems, fmt.Sprintf("API through DNS answers region %s without the restore marker of %s", h.Region, backupID))
		}
	}
	var restoredSum string
	if restoredSum, rep.RecordsRestored, err = Checksum(ctx, standby.MongoURI, d.env.Database); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	rep.ChecksumRestored = restoredSum
	if rep.RecordsRestored != rep.RecordsExpected || rep.ChecksumRestored != rep.ChecksumExpected {
		rep.Problems = append(rep.Problems, fmt.Sprintf("standby has %d records (checksum %.12s), expected %d (%.12s)", rep.RecordsRestored, rep.ChecksumRestored, rep.RecordsExpected, rep.ChecksumExpected))
	}
	if c, err := connect(ctx, standby.MongoURI); err == nil {
		rep.UsersRestored, _ = c.Database(IdentityDatabase).Collection("users").CountDocuments(ctx, bson.D{{Key: "status", Value: "FORCE_CHANGE_PASSWORD"}})
		_ = c.Disconnect(ctx)
	}
	if rep.UsersRestored != int64(rep.UsersExpected) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("standby has %d users awaiting a password reset, expected %d", rep.UsersRestored, rep.UsersExpected))
	}
	var ledgerProblems []string
	rep.Ledger, ledgerProblems = d.checkLedger(ctx)
	rep.Problems = append(rep.Problems, ledgerProblems...)
	if d.o.KillAt != "" && !rep.Resumed {
		rep.Problems = append(rep.Problems, "the apply was killed but the final apply did not resume from the journal")
	}
	rep.OK = len(rep.Problems) == 0 && frep.OK
	return rep, nil
}

// applyAndKill starts an apply that pauses in the middle of KillAt, kills it with SIGKILL there
// and returns; the caller's next apply resumes from the journal.
func (d *Drill) applyAndKill(ctx context.Context, args []string) error {
	paused := filepath.Join(d.env.StateDir, "paused-"+d.o.KillAt)
	_ = os.Remove(paused)
	cmd := exec.CommandContext(ctx, d.o.Caro[0], append(append([]string{}, d.o.Caro[1:]...), args...)...)
	cmd.Env = append(append(os.Environ(), d.o.CaroEnv...), PauseEnv+"="+d.o.KillAt)
	cmd.Stdout = io.Discard
	cmd.Stderr = &linePrefixer{w: d.o.Progress, prefix: "apply (to be killed): "}
	if err := cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		if _, err := os.Stat(paused); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the apply to be killed at %s ended before reaching it: %v", d.o.KillAt, err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("the apply never reached step %s", d.o.KillAt)
		}
	}
	d.log("apply is in the middle of %s: kill -9 %d", d.o.KillAt, cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	d.log("apply killed; resuming with the same plan")
	return nil
}

// readiness runs `caro failover readiness` against the standby and keeps its report; a standby
// that is not ready is a problem of the drill (the failover that follows would be refused).
func (d *Drill) readiness(ctx context.Context, rep *DrillReport) error {
	var out, errOut bytes.Buffer
	runErr := d.caro(ctx, nil, &out, &errOut, "failover", "readiness", "--provider", "local", "--env", d.envPath,
		"--from", DrillPrimary, "--to", DrillStandby, "-o", "json")
	var r failover.ReadinessReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return fmt.Errorf("caro failover readiness: %v (%v)\n%s", runErr, err, errOut.String())
	}
	rep.Readiness = &r
	d.log("readiness of %s before the disaster: ready=%t, %d blocker(s), %d warning(s), %d checks", DrillStandby, r.Ready, r.Blockers, r.Warnings, len(r.Checks))
	if !r.Ready {
		for _, c := range r.Checks {
			if c.Status == failover.CheckBlocker {
				rep.Problems = append(rep.Problems, "readiness blocker: "+c.String())
			}
		}
	}
	return nil
}

func (d *Drill) caro(ctx context.Context, in io.Reader, out, errOut io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, d.o.Caro[0], append(append([]string{}, d.o.Caro[1:]...), args...)...)
	cmd.Env = append(os.Environ(), d.o.CaroEnv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, errOut
	// Its own peak, sampled (wait4's figure would be at least the drill's: localstack.RunMeasured).
	peak, err := localstack.RunMeasured(cmd)
	if cmd.ProcessState != nil && len(args) > 1 {
		d.peakRSS(args[0]+" "+args[1], float64(peak))
	}
	return err
}

// peakRSS keeps the largest peak memory (bytes) seen for name, in MB.
func (d *Drill) peakRSS(name string, bytes float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.caroRSS == nil {
		d.caroRSS, d.serverRSS = map[string]float64{}, map[string]float64{}
	}
	d.caroRSS[name] = max(d.caroRSS[name], bytes/1e6)
}

// serverMemory records the peak memory of region's servers (before they stop) and of its API.
func (d *Drill) serverMemory(region string) {
	r := d.regions[region]
	d.mu.Lock()
	if d.serverRSS == nil {
		d.caroRSS, d.serverRSS = map[string]float64{}, map[string]float64{}
	}
	if r.db != nil {
		if b, err := r.db.PeakRSS(); err == nil {
			d.serverRSS["ferretdb "+region] = float64(b) / 1e6
		}
	}
	if r.kms != nil {
		if b, err := r.kms.PeakRSS(); err == nil {
			d.serverRSS["local-kms "+region] = float64(b) / 1e6
		}
	}
	d.mu.Unlock()
	pid := r.pid
	if raw, err := os.ReadFile(filepath.Join(d.env.StateDir, "api-"+region+".pid")); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
	}
	if pid > 0 {
		if b, err := localstack.PeakRSS(pid); err == nil {
			d.peakRSS("api "+region, float64(b))
		}
	}
}

// caroMemory puts the peak memory of caro's processes and the servers' into the report; the
// drill's own process did the seed, the backup and the pre-stage.
func (d *Drill) caroMemory(rep *DrillReport) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		d.peakRSS("drill (seed, backup, pre-stage)", float64(ru.Maxrss)*1024)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rep.CaroPeakRSSMB, rep.ServerPeakRSSMB = d.caroRSS, d.serverRSS
}

// prestage restores the backup into the standby's database as its pre-stage, as the standby's
// engine does when the backup's manifest arrives (internal/prestage, in this process).
func (d *Drill) prestage(ctx context.Context, backupID string) (prestage.Record, error) {
	sb := d.env.Regions[DrillStandby]
	c := clientsFor(DrillStandby, sb)
	client, err := connectJob(ctx, sb.MongoURI)
	if err != nil {
		return prestage.Record{}, err
	}
	defer client.Disconnect(context.Background())
	return prestage.Run(ctx, prestage.Options{Target: client, Database: d.env.Database, Store: c.store, KMS: c.bkms, AllowedKeys: []string{sb.KMSKey},
		Erasures: erasure.BucketsRegister([]string{"s3://" + sb.BackupBucket}, c.store), Region: DrillStandby, Source: DrillPrimary,
		BackupID: backupID, Settle: d.o.MaintenanceSettle})
}

func (d *Drill) setup(ctx context.Context) error {
	state := filepath.Join(d.o.WorkDir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	d.log("starting two local regions (FerretDB, local-kms, S3 each) and Knot DNS")
	env := &Env{Primary: DrillPrimary, Zone: drillZone, Name: drillName, Database: backup.DefaultDatabase, StateDir: state, MaintenanceSettle: d.o.MaintenanceSettle.Seconds(),
		Regions: map[string]Region{}, ServeCommand: append(append([]string{}, d.o.Caro...), "failover", "drill", "serve-region"), ServeEnv: d.o.CaroEnv}
	for _, name := range []string{DrillPrimary, DrillStandby} {
		r := &drillRegion{name: name}
		d.regions[name] = r
		var err error
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		r.db, err = localstack.StartFerretDB(sctx)
		if err == nil {
			r.kms, err = localstack.StartKMS(sctx, localstack.WithKMSRegion(name))
		}
		cancel()
		if err != nil {
			return err
		}
		if r.s3, err = localstack.StartS3(drillBucket); err != nil {
			return err
		}
		kc := kms.NewFromConfig(localstack.AWSConfig(name, r.kms.Endpoint()))
		out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("caro backups " + name + " (stands in for the multi-Region key's replica)")})
		if err != nil {
			return fmt.Errorf("create KMS key in %s: %w", name, err)
		}
		r.key = aws.ToString(out.KeyMetadata.Arn)
		if r.port, err = freePortOn(drillIPs[name]); err != nil {
			return err
		}
		reg := Region{MongoURI: r.db.URI(), KMSEndpoint: r.kms.Endpoint(), KMSKey: r.key, S3Endpoint: r.s3.Endpoint(),
			BackupBucket: drillBucket, IP: drillIPs[name], APIPort: r.port}
		if err := d.ledger.setupRegion(ctx, r, &reg); err != nil {
			return fmt.Errorf("audit ledger of %s: %w", name, err)
		}
		env.Regions[name] = reg
	}
	var err error
	kctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	d.knot, err = localstack.StartKnot(kctx, drillZone, fmt.Sprintf("%s 5 IN A %s", drillName, drillIPs[DrillPrimary]))
	cancel()
	if err != nil {
		return err
	}
	env.DNSAddr = d.knot.Addr()
	env.TSIGName, env.TSIGSecret, env.TSIGAlg = d.knot.TSIG()
	d.env, d.envPath = env, filepath.Join(d.o.WorkDir, "env.json")
	if err := WriteEnv(d.envPath, env); err != nil {
		return err
	}
	// The primary serves normally before the disaster.
	p := d.regions[DrillPrimary]
	args := append(append([]string{}, d.o.Caro[1:]...), "failover", "drill", "serve-region", "--env", d.envPath, "--region", DrillPrimary)
	cmd := exec.Command(d.o.Caro[0], args...)
	cmd.Env = append(os.Environ(), d.o.CaroEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logf, err := os.Create(filepath.Join(state, "api-"+DrillPrimary+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	p.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := GetHealth(ctx, env.Regions[DrillPrimary].APIBase()); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("the primary's API did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePortOn(ip string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("listen on %s (loopback alias for a local region): %w", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// seed writes the drill's records (half patients, half notes) and returns the users of the region.
func (d *Drill) seed(ctx context.Context, uri string) ([]backup.IdentityRecord, error) {
	c, err := connectJob(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer c.Disconnect(context.Background())
	db := c.Database(d.env.Database)
	n := d.o.Records
	patients := n / 2
	notes := n - patients
	const batch = 1000
	insert := func(coll *mongo.Collection, count int, doc func(i int) bson.D) error {
		docs := make([]any, 0, batch)
		for i := 0; i < count; i++ {
			docs = append(docs, doc(i))
			if len(docs) == batch || i == count-1 {
				if _, err := coll.InsertMany(ctx, docs); err != nil {
					return err
				}
				docs = docs[:0]
			}
		}
		return nil
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := insert(db.Collection("patients"), patients, func(i int) bson.D {
		return bson.D{{Key: "_id", Value: fmt.Sprintf("p-%07d", i)}, {Key: "tenant_id", Value: fmt.Sprintf("t-%02d", i%20)},
			{Key: "name", Value: fmt.Sprintf("Patient %d", i)}, {Key: "birth_year", Value: 1940 + i%70},
			{Key: "created_at", Value: created.Add(time.Duration(i) * time.Minute)}}
	}); err != nil {
		return nil, err
	}
	if err := insert(db.Collection("notes"), notes, func(i int) bson.D {
		return bson.D{{Key: "_id", Value: fmt.Sprintf("n-%07d", i)}, {Key: "tenant_id", Value: fmt.Sprintf("t-%02d", i%20)},
			{Key: "patient_id", Value: fmt.Sprintf("p-%07d", i%max(patients, 1))},
			{Key: "text", Value: fmt.Sprintf("Consult %d: blood pressure %d/%d, follow-up in %d weeks.", i, 110+i%40, 70+i%20, 1+i%8)},
			{Key: "created_at", Value: created.Add(time.Duration(i) * time.Minute)}}
	}); err != nil {
		return nil, err
	}
	if _, err := db.Collection("patients").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "tenant_id", Value: 1}}}); err != nil {
		return nil, err
	}
	users := make([]backup.IdentityRecord, max(n/100, 10))
	for i := range users {
		users[i] = backup.IdentityRecord{Phone: fmt.Sprintf("+3160%07d", i), TenantID: fmt.Sprintf("t-%02d", i%20),
			Roles: []string{"clinician"}, OldSubject: fmt.Sprintf("sub-%s-%d", DrillPrimary, i)}
	}
	return users, nil
}

func (d *Drill) backup(ctx context.Context, users []backup.IdentityRecord) (string, error) {
	// The backup lands in the standby's bucket under the standby's key: on AWS the backup job
	// writes with the multi-Region key and S3 replication copies it; locally each local-kms has its
	// own keys, so the standby's key stands in for the replica.
	sb := d.env.Regions[DrillStandby]
	c := clientsFor(DrillStandby, sb)
	m, err := backup.Create(ctx, backup.CreateOptions{SourceURI: d.env.Regions[DrillPrimary].MongoURI, Database: d.env.Database,
		Store: c.store, KMS: c.bkms, KeyID: sb.KMSKey, Region: DrillPrimary, TempDir: d.o.WorkDir})
	if err != nil {
		return "", err
	}
	if _, err := backup.WriteIdentityExport(ctx, backup.IdentityExportOptions{Store: c.store, KMS: c.bkms, KeyID: sb.KMSKey, BackupID: m.BackupID, Region: DrillPrimary}, users); err != nil {
		return "", err
	}
	return m.BackupID, nil
}

// Checksum returns a SHA-256 over every user collection of db (sorted by name) and its documents
// (in _id order, as BSON), and the document count. The audit ledger's collections are left out:
// the backup holds only part of the ledger, the rest comes back from the checkpoints, and the
// ledger verifier checks it (VerifyLedger).
func Checksum(ctx context.Context, uri, database string) (string, int64, error) {
	c, err := connectJob(ctx, uri)
	if err != nil {
		return "", 0, err
	}
	defer c.Disconnect(context.Background())
	db := c.Database(database)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return "", 0, err
	}
	slices.Sort(names)
	h := sha256.New()
	var n int64
	for _, name := range names {
		if strings.HasPrefix(name, "_caro_") || strings.HasPrefix(name, "system.") || name == ledger.EntriesCollection || name == ledger.CheckpointsCollection {
			continue
		}
		fmt.Fprintf(h, "collection %s\n", name)
		cur, err := db.Collection(name).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return "", 0, err
		}
		for cur.Next(ctx) {
			h.Write(cur.Current)
			n++
		}
		if err := cur.Err(); err != nil {
			cur.Close(ctx)
			return "", 0, err
		}
		cur.Close(ctx)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// linePrefixer prefixes each line written to w.
type linePrefixer struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// stepTimes reads when each step of plan planID first started and finally completed from its
// journal in stateDir (nil when the journal cannot be read: the timeline then lacks the times).
func stepTimes(ctx context.Context, stateDir, planID string) map[string]failover.StepState {
	st, _, err := failover.StatusOf(ctx, &failover.FileJournal{Path: failover.JournalPath(stateDir, planID)})
	if err != nil || st == nil {
		return nil
	}
	out := map[string]failover.StepState{}
	for name, s := range st.Steps {
		out[name] = *s
	}
	return out
}
