package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/carohealth/platform/regions"
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

func TestAPrimaryWithoutTheReplicationSpecIsASynthErrorNotAPanic(t *testing.T) {
	// GIVEN a failback's region definitions: the committed standby made primary, without the
	// replication spec ID a standby does not need
	dir := t.TempDir()
	for _, name := range []string{"eu-west-1.json", "eu-central-1.json", regions.EnvironmentFile} {
		raw, err := os.ReadFile(filepath.Join("..", "regions", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		switch name {
		case "eu-west-1.json":
			text = strings.Replace(text, `"primary": true`, `"primary": false`, 1)
		case "eu-central-1.json":
			text = strings.Replace(text, `"primary": false`, `"primary": true`, 1)
			if strings.Contains(text, "replicationSpecId") {
				t.Fatal("regions/eu-central-1.json now has a replicationSpecId: remove it here to keep the case")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := cdkJSONContext(t)
	ctx["account"] = "123456789012"
	ctx["regionsDir"] = dir
	// WHEN the app is built
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the synth panicked: %v", p)
			}
		}()
		_, err = NewPlatformApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	}()
	// THEN it fails naming the file, the field and where the value comes from
	for _, want := range []string{"eu-central-1.json", `"atlas.replicationSpecId" is missing`, "replicationSpecs[0].id",
		"GET /api/atlas/v2/groups/65a1f0c2e4b0a1b2c3d4e5f7/clusters/caro-eu-central-1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
}

func TestASingleRegionIsASynthErrorNotAPanic(t *testing.T) {
	// GIVEN region definitions of the primary alone
	dir := t.TempDir()
	for _, name := range []string{"eu-west-1.json", regions.EnvironmentFile} {
		raw, err := os.ReadFile(filepath.Join("..", "regions", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := cdkJSONContext(t)
	ctx["account"] = "123456789012"
	ctx["regionsDir"] = dir
	// WHEN the app is built
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("the synth panicked: %v", p)
			}
		}()
		_, err = NewPlatformApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	}()
	// THEN it fails saying a standby is needed
	if err == nil || !strings.Contains(err.Error(), "eu-west-1 is the only region defined") || !strings.Contains(err.Error(), "add a definition of the standby") {
		t.Errorf("err = %v", err)
	}
}
