package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carohealth/platform/regions"
)

// mustLoadSettings is loadSettings for tests whose settings are the committed ones.
func mustLoadSettings(t *testing.T) envSettings {
	t.Helper()
	s, err := loadSettings()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// brokenRegionFiles points caro at a copy of regions/ whose standby definition has a malformed
// Atlas replication spec ID, as a hand edit could leave it.
func brokenRegionFiles(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"eu-west-1.json", "eu-central-1.json", regions.EnvironmentFile} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "regions", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "eu-central-1.json" {
			raw = []byte(strings.Replace(string(raw), `"cluster": "caro-eu-central-1",`, `"cluster": "caro-eu-central-1", "replicationSpecId": "not-an-id",`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	orig := readRegionFiles
	readRegionFiles = func() (regions.Set, regions.Environment, error) {
		set, err := regions.Load(dir)
		if err != nil {
			return set, regions.Environment{}, err
		}
		env, err := regions.LoadEnvironment(dir)
		return set, env, err
	}
	t.Cleanup(func() { readRegionFiles = orig })
}

func TestABrokenRegionDefinitionIsTheErrorOfEveryCommandThatReadsTheSettings(t *testing.T) {
	// GIVEN region definitions of which one is malformed, and settings that would otherwise do
	brokenRegionFiles(t)
	t.Setenv("CARO_BACKUP_BUCKET", "caro-backups")
	t.Setenv("CARO_REGION", "eu-west-1")
	uri := "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100"
	for _, args := range [][]string{
		{"backup", "list"},
		{"backup", "create", "--mongodb-uri", uri},
		{"backup", "verify", "b1", "--mongodb-uri", uri},
		{"backup", "restore", "b1", "--mongodb-uri", uri, "--database", "restored"},
		{"backup", "recover", "--mongodb-uri", uri, "--yes"},
		{"backup", "atlas-restore", "--source-project", "p1", "--source-cluster", "c1", "--target-project", "p2",
			"--target-cluster", "c2", "--target-region", "eu-central-1", "--mongodb-uri", uri, "--yes"},
		{"gdpr", "reapply", "--mongodb-uri", uri, "--yes"},
		{"failover", "status"},
		{"failover", "drill"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			// WHEN the command runs
			code, _, errOut := runCaro(args...)
			// THEN it fails with the cause: which file, which field, what to do
			if code == 0 {
				t.Fatalf("exit 0, want the broken definition reported: %s", errOut)
			}
			for _, want := range []string{"eu-central-1.json", "atlas.replicationSpecId", "not-an-id", "fix the file named in regions/"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}

func TestSettingsResolveWithAnUndefinedRegion(t *testing.T) {
	// GIVEN a region the definitions lack (AWS_REGION of another account)
	t.Setenv("CARO_REGION", "us-east-1")
	t.Setenv("CARO_STATE_DIR", "/tmp/caro-state")
	// WHEN the settings are read
	s, err := loadSettings()
	// THEN the other settings are there: the command that needs the region refuses it by name
	if err != nil || s.StateDir != "/tmp/caro-state" {
		t.Fatalf("loadSettings() = %+v, %v", s, err)
	}
}

func TestAMalformedLedgerSettingIsAnErrorNotTheDefault(t *testing.T) {
	for _, c := range []struct{ env, value, want string }{
		{"CARO_LEDGER_RETENTION_YEARS", "nine", "ledger-retention-years (environment CARO_LEDGER_RETENTION_YEARS) is \"nine\""},
		{"CARO_LEDGER_RETENTION_YEARS", "0", "whole number of years, at least 1"},
		{"CARO_LEDGER_CHECKPOINT_MAX_AGE", "5", "ledger-checkpoint-max-age (environment CARO_LEDGER_CHECKPOINT_MAX_AGE) is \"5\""},
	} {
		t.Run(c.env+"="+c.value, func(t *testing.T) {
			// GIVEN a malformed ledger setting
			t.Setenv(c.env, c.value)
			// WHEN the settings are read
			_, err := loadSettings()
			// THEN it is refused by name, with what to give instead
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("loadSettings() error = %v, want %q", err, c.want)
			}
		})
	}
}
