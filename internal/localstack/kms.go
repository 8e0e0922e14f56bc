package localstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KMSAccountID is the AWS account ID local-kms puts in the ARNs of the keys it creates.
const KMSAccountID = "111122223333"

// DefaultKMSRegion is the region local-kms puts in key ARNs unless WithKMSRegion says otherwise.
const DefaultKMSRegion = "eu-west-1"

// KMS is a running local-kms (github.com/nsmithuk/local-kms), which answers the AWS KMS JSON API:
// CreateKey, Encrypt, Decrypt, GenerateDataKey, aliases, key policies (stored, not enforced),
// Sign/Verify and more. It checks no signatures or permissions: any credentials work.
//
// Our build is patched to listen on 127.0.0.1 only (upstream binds all interfaces).
type KMS struct {
	proc   *process
	port   int
	region string
}

// KMSOption changes how StartKMS starts local-kms.
type KMSOption func(*kmsConfig)

type kmsConfig struct{ region string }

// WithKMSRegion sets the region local-kms puts in key ARNs (default DefaultKMSRegion). Use the
// region your client is configured with when the code under test checks ARNs.
func WithKMSRegion(region string) KMSOption {
	return func(c *kmsConfig) { c.region = region }
}

// StartKMS starts local-kms on a free 127.0.0.1 port with an empty key store in a temporary folder,
// and returns once it answers the KMS API. ctx bounds the start only; the server runs until Stop.
// The binary is built first if it is missing (see Install).
func StartKMS(ctx context.Context, opts ...KMSOption) (*KMS, error) {
	cfg := kmsConfig{region: DefaultKMSRegion}
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := binary("localkms", "local-kms")
	if err != nil {
		return nil, err
	}
	return startWithRetry(func() (*KMS, bool, error) { return startKMS(ctx, bin, cfg) })
}

func startKMS(ctx context.Context, bin string, cfg kmsConfig) (*KMS, bool, error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	dir, err := newTempDir("kms")
	if err != nil {
		return nil, false, err
	}
	env := []string{
		"PORT=" + strconv.Itoa(port),
		"KMS_ACCOUNT_ID=" + KMSAccountID,
		"KMS_REGION=" + cfg.region,
		"KMS_DATA_PATH=" + filepath.Join(dir, "data"),
		// A seed file that does not exist: the default /init/seed.yaml could hold someone's keys.
		"KMS_SEED_PATH=" + filepath.Join(dir, "no-seed.yaml"),
	}
	proc, err := startProcess("local-kms", dir, bin, nil, env)
	if err != nil {
		_ = removeDir(dir)
		return nil, false, err
	}
	k := &KMS{proc: proc, port: port, region: cfg.region}
	if err := proc.waitReady(ctx, k.ping); err != nil {
		taken := proc.addrInUse()
		_ = proc.stop()
		return nil, taken, err
	}
	return k, false, nil
}

// StartKMSForTest starts local-kms for one test: it fails tb if the server does not start and
// stops it in tb.Cleanup. Prefer one server per package, started in TestMain with StartKMS.
func StartKMSForTest(tb testing.TB, opts ...KMSOption) *KMS {
	tb.Helper()
	return startForTest(tb, func(ctx context.Context) (*KMS, error) { return StartKMS(ctx, opts...) })
}

// Endpoint returns the base URL for the AWS SDK, like http://127.0.0.1:PORT (see AWSConfig).
func (k *KMS) Endpoint() string {
	return "http://" + k.Addr()
}

// Addr returns the host:port the server listens on.
func (k *KMS) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port))
}

// Region returns the region local-kms puts in key ARNs.
func (k *KMS) Region() string {
	return k.region
}

// Logs returns the end of the server's log, for test failure messages.
func (k *KMS) Logs() string {
	return k.proc.logs()
}

// PeakRSS returns the server's peak resident memory in bytes (Linux only).
func (k *KMS) PeakRSS() (int64, error) {
	return k.proc.peakRSS()
}

// Stop ends the server and removes its keys. Calling it again returns the first result.
func (k *KMS) Stop() error {
	return k.proc.stop()
}

// ping calls ListKeys, which succeeds once the key store is open and the listener is up.
func (k *KMS) ping(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, k.Endpoint()+"/", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListKeys answered %s", resp.Status)
	}
	return nil
}
