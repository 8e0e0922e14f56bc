package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/failover"
)

// The test binary doubles as caro: with CARO_TEST_AS_CARO=1 it runs the command line it was given
// and exits, so tests (and the drill they run) start real `caro failover apply` subprocesses that
// can be killed with SIGKILL. Test files are initialised after the package's own files, so every
// command is registered by then.
func init() {
	failoverProviders["test"] = newTestFailoverProvider
	// No API writes to the tests' databases: restores need not wait the real settle time.
	defaultRestoreSettle = 20 * time.Millisecond
	if os.Getenv("CARO_TEST_AS_CARO") == "1" {
		os.Exit(Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	drillChildEnv = []string{"CARO_TEST_AS_CARO=1"}
}

// testProvider is a failover provider over a folder (CARO_TEST_PROVIDER_DIR): each step leaves a
// done-<step> file and appends to runs-<step>; a file unhealthy-<region> makes that region
// unhealthy; CARO_TEST_PAUSE_AT=<step> makes that step stop mid-way and wait to be killed.
type testProvider struct{ dir string }

func newTestFailoverProvider(_ context.Context, _ string, settings map[string]string) (failover.Provider, error) {
	dir := settings["dir"]
	if dir == "" {
		dir = os.Getenv("CARO_TEST_PROVIDER_DIR")
	}
	if dir == "" {
		return nil, fmt.Errorf("test provider: no folder")
	}
	return &testProvider{dir: dir}, nil
}

var testStepNames = []string{"preflight", "deploy", "restore", "identities", "verify", "dns", "confirm"}

func (p *testProvider) Name() string { return "test" }

func (p *testProvider) Survey(_ context.Context, req failover.Request) (*failover.Survey, error) {
	s := &failover.Survey{TargetHealthy: true, Settings: map[string]string{"dir": p.dir},
		Backup: failover.BackupRef{ID: "bk-1", TakenAt: time.Now().Add(-90 * time.Second), Records: 500, Location: "file://" + p.dir}}
	if _, err := os.Stat(filepath.Join(p.dir, "unhealthy-"+req.To)); err == nil {
		s.TargetHealthy, s.TargetDetail = false, "its KMS key does not answer"
	}
	for _, n := range testStepNames {
		s.Steps = append(s.Steps, failover.PlannedStep{Name: n, Action: "do " + n, ExpectedSeconds: 0.1})
	}
	return s, nil
}

func (p *testProvider) Steps(_ context.Context, plan *failover.Plan) ([]failover.Step, error) {
	var out []failover.Step
	for _, n := range testStepNames {
		name := n
		out = append(out, &failover.StepFunc{
			StepName: name,
			CheckFunc: func(context.Context) (bool, error) {
				_, err := os.Stat(filepath.Join(p.dir, "done-"+name))
				return err == nil, nil
			},
			RunFunc: func(ctx context.Context) error {
				appendLine(filepath.Join(p.dir, "runs-"+name))
				if os.Getenv("CARO_TEST_PAUSE_AT") == name {
					appendLine(filepath.Join(p.dir, "paused"))
					select {
					case <-ctx.Done():
					case <-time.After(time.Minute):
					}
				}
				if _, err := os.Stat(filepath.Join(p.dir, "fail-"+name)); err == nil {
					return fmt.Errorf("injected failure of %s", name)
				}
				appendLine(filepath.Join(p.dir, "done-"+name))
				return nil
			},
			SummaryText: func() string { return "did " + name },
			// like the providers' deploy and dns: their effect can be lost (remove done-<step>)
			Decaying: name == "deploy" || name == "dns",
		})
	}
	return out, nil
}

func appendLine(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	fmt.Fprintln(f, "x")
	f.Sync()
	f.Close()
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}
