package config

import (
	"fmt"
	"os"
	"slices"
)

// LookupEnv reads one environment variable of the process: the only place in the toolkit that
// does (a test enforces it). name must be an environment variable of a catalogued setting (or of
// ProcessVars), so every variable the toolkit reads is in the settings reference; any other name
// is a programming error and panics.
func LookupEnv(name string) (string, bool) {
	if !knownEnvVar(name) {
		panic(fmt.Sprintf("config.LookupEnv(%q): not an environment variable of any setting: add it to config.Catalogue or config.ProcessVars", name))
	}
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// ProcessVar is an environment variable that is not an operator's setting but plumbing between
// processes (set by the CDK CLI, the Lambda runtime or the toolkit itself for a child process).
type ProcessVar struct {
	Name, Doc, ReadBy string
}

// ProcessVars are the process-plumbing variables the toolkit reads.
var ProcessVars = []ProcessVar{
	{"CDK_DEFAULT_ACCOUNT", "the account the CDK CLI found in the credentials", "the CDK app (cdk/)"},
	{"CDK_VALIDATION", "false switches CDK's in-process template validation off (the app re-executes itself with it; constructs/templatecheck validates instead)", "the CDK app (constructs/templatecheck)"},
	{"CARO_REPO_ROOT", "the repository root, when the CDK app runs outside it (Go Lambda bundling)", "the CDK app (constructs/gofunction)"},
	{"CARO_DRILL_PAUSE_AT", "makes the local provider stop in the middle of that step and wait to be killed (caro failover drill --kill-at sets it on its apply subprocess)", "caro failover apply (local provider)"},
	{"AWS_SESSION_TOKEN", "the Lambda function's session token, which the Parameters and Secrets extension requires", "Lambda functions (backup job, audit writer)"},
}

func knownEnvVar(name string) bool {
	for _, s := range Catalogue {
		if slices.Contains(s.EnvVars(), name) {
			return true
		}
	}
	return slices.ContainsFunc(ProcessVars, func(p ProcessVar) bool { return p.Name == name })
}
