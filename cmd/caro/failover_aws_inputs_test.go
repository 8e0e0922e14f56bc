package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carohealth/platform/internal/failover"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
	"github.com/carohealth/platform/regions"
)

// Both restores of the AWS provider declare their input, so plan and preflight check it.
var (
	_ awsprov.RestoreInputs = (*atlasSnapshots)(nil)
	_ awsprov.RestoreInputs = backupRestorer{}
)

func TestFailoverRestoreInputsNameTheConnectionString(t *testing.T) {
	for name, ri := range map[string]awsprov.RestoreInputs{"atlas": &atlasSnapshots{}, "backup": backupRestorer{}} {
		t.Run("GIVEN the "+name+" restore and no CARO_FAILOVER_MONGODB_URI THEN the check says what to set", func(t *testing.T) {
			t.Setenv("CARO_FAILOVER_MONGODB_URI", "")
			_, err := ri.CheckInputs("eu-central-1")
			if err == nil || !strings.Contains(err.Error(), "CARO_FAILOVER_MONGODB_URI is not set") || !strings.Contains(err.Error(), "eu-central-1 cluster") {
				t.Fatalf("err = %v", err)
			}
			if name == "atlas" && !strings.Contains(err.Error(), "erasure register") {
				t.Errorf("the atlas message does not say why (the erasure register): %v", err)
			}
		})
		t.Run("GIVEN the "+name+" restore and a value that is no MongoDB URI THEN it is refused without echoing it", func(t *testing.T) {
			t.Setenv("CARO_FAILOVER_MONGODB_URI", "cluster0.example.mongodb.net")
			_, err := ri.CheckInputs("eu-central-1")
			if err == nil || !strings.Contains(err.Error(), "mongodb+srv://") || strings.Contains(err.Error(), "cluster0.example") {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("GIVEN the "+name+" restore and the URI set THEN the check passes without printing it", func(t *testing.T) {
			t.Setenv("CARO_FAILOVER_MONGODB_URI", "mongodb+srv://oncall:s3cret@cluster0.example.mongodb.net/")
			check, err := ri.CheckInputs("eu-central-1")
			if err != nil || !strings.Contains(check, "CARO_FAILOVER_MONGODB_URI is set") || strings.Contains(check, "s3cret") {
				t.Fatalf("check %q, err %v", check, err)
			}
		})
	}
}

// stubCatalog must never be reached: the restore input is checked before anything is asked of AWS.
type stubCatalog struct{ t *testing.T }

func (s stubCatalog) Latest(context.Context, *awsprov.Clients, map[string]string, string, string) (failover.BackupRef, error) {
	s.t.Error("the catalog was asked before the restore input was checked")
	return failover.BackupRef{}, nil
}

func TestFailoverPlanAtlasRefusedWithoutConnectionString(t *testing.T) {
	// GIVEN the AWS provider with the Atlas restore, and no CARO_FAILOVER_MONGODB_URI
	t.Setenv("CARO_FAILOVER_MONGODB_URI", "")
	defs, err := regions.Default()
	if err != nil {
		t.Fatal(err)
	}
	prov := &awsprov.Provider{
		Regions: defs, Catalog: stubCatalog{t}, Restorer: backupRestorer{},
		AtlasCatalog: stubCatalog{t}, AtlasRestorer: &atlasSnapshots{defs: defs},
		ClientsFor: func(context.Context, string) (*awsprov.Clients, error) {
			t.Error("AWS clients were built before the restore input was checked")
			return &awsprov.Clients{}, nil
		},
	}
	// WHEN `caro failover plan --restore atlas` surveys
	_, err = failover.MakePlan(context.Background(), prov, failover.Request{From: "eu-west-1", To: "eu-central-1", Primary: "eu-west-1", Restore: "atlas"}, time.Now())
	// THEN it refuses before touching AWS, naming the variable and the target cluster
	if err == nil || !strings.Contains(err.Error(), "atlas restore into eu-central-1 cannot run") || !strings.Contains(err.Error(), "CARO_FAILOVER_MONGODB_URI is not set") {
		t.Fatalf("err = %v", err)
	}
}
