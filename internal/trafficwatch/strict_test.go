package trafficwatch

import (
	"strings"
	"testing"
)

// TestAuditMessageFieldNamesMatchExactly: an audit event on the audit topic is valid only in the form
// the platform writes it: a field in another letter case or given twice (which encoding/json read as
// the last copy, so the watcher and the ledger could see different tenants) is an invalid internal
// message.
func TestAuditMessageFieldNamesMatchExactly(t *testing.T) {
	w, _ := newTestWatcher(t)
	valid := `{"id":"0123456789abcdef0123456789abcdef","time":"2026-11-23T06:00:00Z","actor":"s","tenantId":"tenant-a",` +
		`"action":"patient:write","resourceType":"patient","resourceId":"p1","interface":"api","requestId":"r1","afterHash":"ab"}`
	cases := map[string]struct {
		message string
		invalid bool
	}{
		"as written":           {valid, false},
		"tenant twice":         {strings.Replace(valid, `"tenantId":"tenant-a"`, `"tenantId":"tenant-a","TenantId":"tenant-b"`, 1), true},
		"tenant capitalised":   {strings.Replace(valid, `"tenantId"`, `"TenantId"`, 1), true},
		"action in upper case": {strings.Replace(valid, `"action"`, `"ACTION"`, 1), true},
		"exact duplicate":      {strings.Replace(valid, `"actor":"s"`, `"actor":"x","actor":"s"`, 1), true},
	}
	for name, c := range cases {
		obs, skipped, err := w.Observations(records(snsRecord(w.AuditTopicARN, "m1", c.message)))
		if err != nil || skipped != 0 || len(obs) != 1 {
			t.Fatalf("%s: observations %+v, skipped %d, err %v", name, obs, skipped, err)
		}
		if obs[0].Invalid != c.invalid {
			t.Errorf("%s: invalid = %v, want %v (tenant %q)", name, obs[0].Invalid, c.invalid, obs[0].Tenant)
		}
	}
}
