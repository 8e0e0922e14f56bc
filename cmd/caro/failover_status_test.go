package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

func TestFailoverStatusWithoutJournalSaysSo(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := foRun(t, "", "failover", "status", "--state-dir", filepath.Join(dir, "none"))
	if code == 0 || !strings.Contains(errOut, "no failover journal") {
		t.Fatalf("exit %d %s", code, errOut)
	}
}

func TestFailoverStatusAfterCompletion(t *testing.T) {
	_, plan := testPlanFile(t)
	if code, _, errOut := foRun(t, "", "failover", "apply", plan, "--yes"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, _ := foRun(t, "", "failover", "status", "-o", "json")
	var st failoverStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != "completed" || len(st.Steps) != 7 || st.Lock != nil {
		t.Fatalf("status %d %s", code, out)
	}
	// --plan reads the same journal
	code, out, _ = foRun(t, "", "failover", "status", "-f", plan)
	if code != 0 || !strings.Contains(out, "COMPLETED") || !strings.Contains(out, "did confirm") {
		t.Fatalf("status -f %d %s", code, out)
	}
}

func TestAWSProviderRejectsBadARCEndpoints(t *testing.T) {
	withCloud(t, cloudFake{})
	t.Setenv("CARO_ARC_ENDPOINTS", "not-a-pair")
	if _, err := newAWSFailoverProvider(t.Context(), "eu-central-1", nil); err == nil || !strings.Contains(err.Error(), "region=url") {
		t.Fatalf("err = %v", err)
	}
}

func TestAWSProviderEnablesAtlasRestoreOnlyWithCredentials(t *testing.T) {
	withCloud(t, cloudFake{})
	for _, k := range []string{"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET", "MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY", "CARO_ARC_ENDPOINTS"} {
		t.Setenv(k, "")
	}
	p, err := newAWSFailoverProvider(t.Context(), "eu-central-1", nil)
	if err != nil || p.(*awsprov.Provider).AtlasRestorer != nil {
		t.Fatalf("without credentials: %v %+v", err, p)
	}
	t.Setenv("MONGODB_ATLAS_PUBLIC_API_KEY", "pub")
	t.Setenv("MONGODB_ATLAS_PRIVATE_API_KEY", "priv")
	p, err = newAWSFailoverProvider(t.Context(), "eu-central-1", nil)
	if err != nil || p.(*awsprov.Provider).AtlasRestorer == nil {
		t.Fatalf("with credentials: %v", err)
	}
}
