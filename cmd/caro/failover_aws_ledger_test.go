package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

// Both restores of the AWS provider recover the ledger, so both warn when they cannot.
var (
	_ awsprov.RestoreAdvisories = (*atlasSnapshots)(nil)
	_ awsprov.RestoreAdvisories = backupRestorer{}
)

// ledgerKeyFiles writes a pinnable public key, its private key and a file that is no key.
func ledgerKeyFiles(t *testing.T) (public, private, garbage string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	public, private, garbage = filepath.Join(dir, "ledger.pem"), filepath.Join(dir, "private.pem"), filepath.Join(dir, "notes.txt")
	for path, body := range map[string][]byte{
		public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		private: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}),
		garbage: []byte("ledger key: ask the security officer\n"),
	} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return public, private, garbage
}

func TestFailoverWarnsWhenTheLedgerWillNotBeRecovered(t *testing.T) {
	public, private, garbage := ledgerKeyFiles(t)
	for name, ra := range map[string]awsprov.RestoreAdvisories{"atlas": &atlasSnapshots{}, "backup": backupRestorer{}} {
		for _, c := range []struct {
			given, value, says string
		}{
			{"no " + envLedgerPublicKey, "", envLedgerPublicKey + " is not set"},
			{"a file that does not exist", filepath.Join(t.TempDir(), "missing.pem"), "missing.pem cannot be read (no such file or directory)"},
			{"a file that is no key", garbage, "notes.txt is not a PEM public key"},
			{"the private key instead of the public one", private, "private.pem is not a PEM public key"},
		} {
			t.Run("GIVEN the "+name+" restore and "+c.given+" THEN plan and preflight warn, saying what to set and what to run", func(t *testing.T) {
				t.Setenv(envLedgerPublicKey, c.value)
				w := ra.InputWarnings("eu-central-1")
				if len(w) != 1 {
					t.Fatalf("warnings %q, want one", w)
				}
				for _, want := range []string{c.says, "will NOT recover the audit ledger", "the failover itself goes on",
					"set " + envLedgerPublicKey + " to the PEM file of the pinned ledger public key", "caro audit public-key",
					"'caro audit recover' against the eu-central-1 database"} {
					if !strings.Contains(w[0], want) {
						t.Errorf("warning %q does not say %q", w[0], want)
					}
				}
				if strings.Contains(w[0], "PRIVATE KEY") || strings.Contains(w[0], "security officer") {
					t.Errorf("warning echoes the file's content: %q", w[0])
				}
			})
		}
		t.Run("GIVEN the "+name+" restore and the pinned PEM public key THEN there is no warning", func(t *testing.T) {
			t.Setenv(envLedgerPublicKey, public)
			if w := ra.InputWarnings("eu-central-1"); len(w) != 0 {
				t.Errorf("warnings %q with the key pinned", w)
			}
		})
	}
}
