package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/carohealth/platform/constructs/replication"
)

// bucketTag is the value of a bucket's tag key ("" without it).
func bucketTag(r cfnResource, key string) string {
	tags, _ := r.Properties["Tags"].([]interface{})
	for _, t := range tags {
		if stringOf(mapOf(t)["Key"]) == key {
			return stringOf(mapOf(t)["Value"])
		}
	}
	return ""
}

// expiryRules returns the days after which a bucket's enabled rules expire current and noncurrent
// versions (0: none).
func expiryRules(r cfnResource) (current, noncurrent int) {
	rules, _ := mapOf(r.Properties["LifecycleConfiguration"])["Rules"].([]interface{})
	for _, x := range rules {
		rule := mapOf(x)
		if rule["Status"] != "Enabled" || rule["Prefix"] != nil || rule["TagFilters"] != nil {
			continue
		}
		if d, ok := rule["ExpirationInDays"].(float64); ok {
			current = int(d)
		}
		if d, ok := mapOf(rule["NoncurrentVersionExpiration"])["NoncurrentDays"].(float64); ok {
			noncurrent = int(d)
		}
	}
	return current, noncurrent
}

func TestEveryBucketOfPatientDataOrRecordsExpiresAtTheRetentionSetting(t *testing.T) {
	// GIVEN the whole app and the retention setting of each region
	pa := platformApp(t)
	retention := map[string]int{}
	for _, def := range pa.Regions.All() {
		retention[def.Region] = def.RetentionYears
	}
	peer := func(region string) string {
		for r := range retention {
			if r != region {
				return r
			}
		}
		return region
	}
	av := newAppView(t)
	kinds := map[string]int{}
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::S3::Bucket" {
				continue
			}
			current, noncurrent := expiryRules(r)
			locked := stringOf(mapOf(r.Properties["ObjectLockConfiguration"])["ObjectLockEnabled"]) == "Enabled"
			holds := replication.Holds(bucketTag(r, replication.HoldsTagKey))
			if !locked {
				// WHEN a bucket holds no records THEN it still expires what it keeps (logs: 365 days;
				// assets: old versions)
				if current == 0 && noncurrent == 0 {
					t.Errorf("%s: bucket %s expires nothing", s.name, id)
				}
				continue
			}
			// WHEN a bucket holds backups or audit checkpoints (Object Lock) THEN it says which, and
			// expires every object the day its kind's retention ends: in a replica the source region's
			years := retention[s.region]
			if s.name == "CaroReplica-"+s.region {
				years = retention[peer(s.region)]
			}
			kinds[fmt.Sprintf("%s", holds)]++
			if holds != replication.HoldsBackups && holds != replication.HoldsAuditCheckpoints {
				t.Errorf("%s: locked bucket %s has no %s tag: it is unknown what it holds and how long", s.name, id, replication.HoldsTagKey)
				// Go on with the kind its logical ID suggests, to report its expiry too.
				holds = replication.HoldsBackups
				if strings.Contains(strings.ToLower(id), "ledger") {
					holds = replication.HoldsAuditCheckpoints
				}
			}
			if want := replication.ExpiryDays(holds, years); current != want {
				t.Errorf("%s: bucket %s (%s) expires objects after %d days, want %d (%d years' retention)", s.name, id, holds, current, want, years)
			}
			// A noncurrent version is an expired (or overwritten) one: removed as soon as its lock
			// allows, not a second retention period later.
			if noncurrent != 1 {
				t.Errorf("%s: bucket %s (%s) keeps noncurrent versions %d days, want 1", s.name, id, holds, noncurrent)
			}
		}
	}
	// Backups: each region's own bucket and its replica in the peer; checkpoints likewise.
	if kinds[string(replication.HoldsBackups)] != 4 || kinds[string(replication.HoldsAuditCheckpoints)] != 4 {
		t.Errorf("locked buckets by kind %v, want 4 backups and 4 audit-checkpoints buckets", kinds)
	}
}
