package aws

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
	"github.com/carohealth/platform/regions"
)

// pinnedKeysConfig is the provider's configuration of a failover to eu-central-1 whose only
// setting is the pinned ledger keys, from the environment override (value) or the committed
// environment file (committed, by region).
func pinnedKeysConfig(t *testing.T, value string, committed map[string]string) Config {
	t.Helper()
	set, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	env := regions.Environment{Name: "production", LedgerPublicKeys: committed}
	getenv := func(name string) (string, bool) {
		if name == SettingLedgerPublicKey && value != "" {
			return value, true
		}
		return "", false
	}
	cfg, err := (&config.Loader{Env: getenv, Regions: &set, Environment: &env}).Load(context.Background(), "eu-central-1")
	if err != nil {
		t.Fatal(err)
	}
	return ConfigFrom(context.Background(), cfg)
}

func TestConfigFromReadsThePinnedLedgerKeysInEveryForm(t *testing.T) {
	der := func() []byte {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		return b
	}
	a, b := der(), der()
	arnA, arnB := "arn:aws:kms:eu-west-1:111122223333:key/a", "arn:aws:kms:eu-central-1:111122223333:key/b"
	pemB := filepath.Join(t.TempDir(), "b.pem")
	if err := os.WriteFile(pemB, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
	itemA := pinnedkeys.Key{KeyArn: arnA, DER: a}.String()

	// GIVEN both regions' keys committed THEN they are the restore's key ring
	c := pinnedKeysConfig(t, "", map[string]string{"eu-west-1": itemA, "eu-central-1": pinnedkeys.Key{KeyArn: arnB, DER: b}.String()})
	if c.Restore.LedgerKeyProblem != "" || len(c.Restore.LedgerPublicKeys) != 2 || c.Restore.LedgerPublicKey != nil {
		t.Fatalf("committed: %+v", c.Restore)
	}
	// GIVEN the override mixes the committed form and a KEYID=FILE item THEN both are in the ring
	c = pinnedKeysConfig(t, itemA+","+arnB+"="+pemB, nil)
	if c.Restore.LedgerKeyProblem != "" || len(c.Restore.LedgerPublicKeys) != 2 {
		t.Fatalf("mixed: %+v", c.Restore)
	}
	// GIVEN one PEM file THEN it is the single key
	c = pinnedKeysConfig(t, pemB, nil)
	if c.Restore.LedgerKeyProblem != "" || c.Restore.LedgerPublicKey == nil || c.Restore.LedgerPublicKeys != nil {
		t.Fatalf("single: %+v", c.Restore)
	}
	// GIVEN a file that cannot be read THEN the problem names the variable and the file
	c = pinnedKeysConfig(t, arnB+"=/nonexistent/b.pem", nil)
	if !strings.Contains(c.Restore.LedgerKeyProblem, SettingLedgerPublicKey+" /nonexistent/b.pem cannot be read") {
		t.Fatalf("missing file: %q", c.Restore.LedgerKeyProblem)
	}
	// GIVEN nothing pinned THEN no key and no problem here (the caller says what is missing)
	c = pinnedKeysConfig(t, "", nil)
	if c.Restore.LedgerKeyProblem != "" || c.Restore.LedgerPublicKey != nil || c.Restore.LedgerPublicKeys != nil {
		t.Fatalf("none: %+v", c.Restore)
	}
}
