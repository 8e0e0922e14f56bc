package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/localstack"
)

// scaleEntries is the size of BenchmarkLedgerScale's ledger (make bench-ledger: 2,000,000).
var scaleEntries = flag.Int("ledger.entries", 2_000_000, "entries of BenchmarkLedgerScale's ledger")

// withoutEntries publishes checkpoints without the entries they carry: at 2,000,000 entries
// they would be 1.6 GB in gofakes3, which keeps objects in this process's memory. Verification
// never reads them (it stops reading an object where they start); only Recover does.
type withoutEntries struct{ *ledger.CheckpointBucket }

func (w withoutEntries) Publish(ctx context.Context, c *ledger.Checkpoint, until time.Time) error {
	cp := *c
	cp.Entries = nil
	return w.CheckpointBucket.Publish(ctx, &cp, until)
}

// scaleLine prints one result line of the benchmark (make bench-ledger shows these).
func scaleLine(format string, args ...any) {
	fmt.Printf("ledger-bench: "+format+"\n", args...)
}

// BenchmarkLedgerScale builds a ledger of -ledger.entries entries (checkpoints every 1000, signed in
// local-kms, in the Object Lock shim over gofakes3), then measures with the caro binary, as an
// operator runs it: an incremental verification of the last quarter on top of a recorded full one,
// a full verification against a bare driver scan of the same collection in the same run, each
// process's peak RSS, and the inclusion proof of the entry a 1,000,000-entry tree ends with. Run
// with -benchtime 1x.
func BenchmarkLedgerScale(b *testing.B) {
	ctx := context.Background()
	total := *scaleEntries
	base := total * 3 / 4
	env := servers.NewEnv(b)
	caro := buildCaro(b)
	pem := filepath.Join(b.TempDir(), "ledger.pem")
	if err := os.WriteFile(pem, env.PublicKeyPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	l := &ledger.Ledger{Store: env.Store}
	cpr := &ledger.Checkpointer{Entries: env.Store, Records: env.Store, Bucket: withoutEntries{env.Bucket}, Signer: env.Signer,
		Interval: 1000, MaxAge: time.Duration(1 << 62)}
	proveAt := min(1_000_000, total) - 1
	var proveID string
	build := func(from, to int) {
		start := time.Now()
		for i := from; i < to; i += 1000 {
			evs := make([]audit.Event, 0, 1000)
			for j := i; j < min(i+1000, to); j++ {
				evs = append(evs, ledger.TestEvent(j, "t1"))
			}
			res, err := l.AppendBatch(ctx, evs)
			if err != nil {
				b.Fatal(err)
			}
			for k, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
				if i+k == proveAt {
					proveID = r.Entry.EventID
				}
			}
			if _, err := cpr.Run(ctx); err != nil {
				b.Fatal(err)
			}
		}
		scaleLine("built entries %d..%d in %.0f s: %.0f appends/s (batches of 1000, checkpoint every 1000)", from, to-1, time.Since(start).Seconds(),
			float64(to-from)/time.Since(start).Seconds())
	}
	b.ResetTimer()
	build(0, base)

	// A full verification of the first part, recorded as the audit writer's weekly run does.
	rep, _ := runCaro(b, env, caro, pem, "full verify", base, "audit", "verify", "--full", "-o", "json")
	if _, err := ledger.RecordVerification(ctx, rep, env.Signer, env.Bucket, 9, time.Now()); err != nil {
		b.Fatal(err)
	}
	build(base, total)
	runCaro(b, env, caro, pem, "incremental verify", total-base, "audit", "verify", "-o", "json")
	_, fullSecs := runCaro(b, env, caro, pem, "full verify", total, "audit", "verify", "--full", "-o", "json")

	// The server's read ceiling: a bare driver scan of the same collection.
	start := time.Now()
	cur, err := env.DB.Collection(ledger.EntriesCollection).Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for cur.Next(ctx) {
		n++
	}
	scan := time.Since(start).Seconds()
	scaleLine("bare driver scan: %d documents in %.0f s: %.0f documents/s", n, scan, float64(n)/scan)
	scaleLine("full verify rate / bare scan rate: %.0f %%", 100*scan/fullSecs)

	// The inclusion proof of entry 999,999 against the checkpoint of tree size 1,000,000.
	out := exec.Command(caro, "audit", "prove", proveID, "--public-key", pem)
	out.Env = caroEnv(env)
	start = time.Now()
	proof, err := out.Output()
	if err != nil {
		b.Fatalf("prove: %v", err)
	}
	var p ledger.InclusionProof
	if err := json.Unmarshal(proof, &p); err != nil {
		b.Fatal(err)
	}
	scaleLine("inclusion proof of entry %d in a tree of %d: %d audit-path hashes (%d bytes), proof JSON %d bytes, in %.1f s",
		p.LeafIndex, p.TreeSize, len(p.AuditPath), 32*len(p.AuditPath), len(proof), time.Since(start).Seconds())
}

// buildCaro builds the caro binary once for the benchmark.
func buildCaro(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "caro")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/carohealth/platform/cmd/caro")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building caro: %v\n%s", err, out)
	}
	return bin
}

// caroEnv is the environment the caro audit commands read for env (as cmd/caro's tests set it).
func caroEnv(env *ledgertest.Env) []string {
	s := env.Servers
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+localstack.DummyAccessKeyID, "AWS_SECRET_ACCESS_KEY="+localstack.DummySecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_ENDPOINT_URL_S3="+s.S3Endpoint(),
		"AWS_ENDPOINT_URL_KMS="+s.KMS.Endpoint(), "AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
		"CARO_MONGODB_URI="+s.FerretDB.URI(), "CARO_DATABASE="+env.DB.Name(), "CARO_LEDGER_BUCKET="+env.BucketName, "CARO_REGION="+ledgertest.Region)
}

// runCaro runs caro args, prints its time, rate over entries and peak RSS, and returns the report.
func runCaro(b *testing.B, env *ledgertest.Env, caro, pem, what string, entries int, args ...string) (*ledger.Report, float64) {
	cmd := exec.Command(caro, append(args, "--public-key", pem, "--max-age", "876000h")...)
	cmd.Env = caroEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	// caro's own peak (wait4's figure would be at least this benchmark's: localstack.RunMeasured).
	peak, err := localstack.RunMeasured(cmd)
	secs := time.Since(start).Seconds()
	if err != nil {
		b.Fatalf("caro %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var rep ledger.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || !rep.OK {
		b.Fatalf("caro %s: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	rss := peak >> 20
	scaleLine("%s of %d entries (from entry %d, %d checkpoints): %.1f s, %.0f entries/s, peak RSS %d MB", what, rep.EntriesVerified, rep.FromSeq,
		rep.CheckpointsVerified, secs, float64(rep.EntriesVerified)/secs, rss)
	_ = entries
	return &rep, secs
}
