package main

import (
	"math"
	"testing"
)

func TestFunctionsReserveWhatTheStatedLoadNeeds(t *testing.T) {
	// GIVEN the whole app and each region's stated API load
	pa := platformApp(t)
	for _, p := range pa.Platforms {
		def, err := pa.Regions.Get(*p.Region())
		if err != nil {
			t.Fatal(err)
		}
		tpl := templateOf(t, p.Stack)
		api := functionByDescription(t, tpl, "The platform API")
		outbox := functionByDescription(t, tpl, "Audit outbox reconciler")
		// WHEN the functions' reserved concurrency and the reconciler's schedule are read
		reserved, total := map[string]float64{}, 0.0
		for id, r := range tpl.Resources {
			if r.Type == "AWS::Lambda::Function" {
				n, _ := r.Properties["ReservedConcurrentExecutions"].(float64)
				reserved[id] = n
				total += n
			}
		}
		load := def.APILoad()
		// THEN the API reserves twice the executions the load needs (rate x duration)
		if want := math.Ceil(load.APIPeakRequestsPerSecond * load.APIRequestSeconds * 2); reserved[api] != want {
			t.Errorf("%s: the API function reserves %v, want %v for %v requests/s of %v s", *p.StackName(), reserved[api], want, load.APIPeakRequestsPerSecond, load.APIRequestSeconds)
		}
		// AND the once-a-minute reconciler runs in a function of its own, one at a time, so it never
		// takes one of the API's executions
		for id, r := range tpl.Resources {
			if r.Type != "AWS::Events::Rule" || stringOf(r.Properties["ScheduleExpression"]) != "rate(1 minute)" {
				continue
			}
			targets, _ := r.Properties["Targets"].([]interface{})
			for _, target := range targets {
				if fn := refOf(target, "Arn"); fn == api {
					t.Errorf("%s: rule %s runs in the API function", *p.StackName(), id)
				}
			}
		}
		if reserved[outbox] != 1 {
			t.Errorf("%s: the reconciler reserves %v, want 1", *p.StackName(), reserved[outbox])
		}
		// AND every function reserves some, adding up to what the app states (caro deploy check
		// compares that with the account's quota)
		for id, n := range reserved {
			if n < 1 {
				t.Errorf("%s: function %s reserves no concurrency", *p.StackName(), id)
			}
		}
		runs := regionFunctions{atlas: def.Atlas.KeyAccess != nil, peer: len(pa.Platforms) > 1, standby: !def.Primary}
		if want := concurrencyFor(load, runs).total(); total != want {
			t.Errorf("%s: functions reserve %v in all, concurrencyFor says %v", *p.StackName(), total, want)
		}
	}
}

func TestAtlasCopiesSnapshotsWithTheClustersReplicationSpec(t *testing.T) {
	// GIVEN the primary region's definition WHEN its stack is synthesized
	pa := platformApp(t)
	primary := pa.Regions.Primary()
	tpl := templateOf(t, pa.Platforms[0].Stack)
	checked := 0
	for id, r := range tpl.Resources {
		if r.Type != "MongoDB::Atlas::CloudBackupSchedule" {
			continue
		}
		// THEN every snapshot copy setting names the cluster's replication spec, which Atlas requires
		copies, _ := r.Properties["CopySettings"].([]interface{})
		for _, c := range copies {
			checked++
			if got := stringOf(mapOf(c)["ReplicationSpecId"]); got == "" || got != primary.Atlas.ReplicationSpecID {
				t.Errorf("%s: copy setting has replication spec %q, the region definition %q", id, got, primary.Atlas.ReplicationSpecID)
			}
		}
	}
	if checked != 1 {
		t.Errorf("%d copy settings checked, want 1", checked)
	}
}
