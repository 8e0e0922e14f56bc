package config

import (
	"fmt"
	"strings"
)

// Reference renders the settings reference (docs/settings.md) from the catalogue.
func Reference() string {
	var b strings.Builder
	b.WriteString(`<!-- Generated from internal/config (catalogue.go, env.go) by ` + "`make docs`" + `: do not edit by hand. -->
# Settings reference

Every setting the ` + "`caro`" + ` CLI reads, resolved in one place (` + "`internal/config`" + `). A setting is taken from
the first place in its list that has a value: a flag the operator passed, an environment variable
(an override: flags never take their defaults from the environment), the deployed stacks' outputs,
the secrets and SSM parameters the platform keeps, the committed ` + "`regions/environment.json`" + ` and region
definitions, or a default. ` + "`{region}`" + ` is the region the command acts on (the failover's target),
` + "`{peer}`" + ` the other region, ` + "`{account}`" + ` the AWS account.

` + "`caro config view [--region <region>] [-o json]`" + ` prints every setting as resolved, with its source;
secrets show only that they are set (a connection string shows its host, never its credentials).

| setting | what it is | looked up in, in order | read by |
|---|---|---|---|
`)
	for _, s := range Catalogue {
		places := make([]string, len(s.Lookups))
		for i, l := range s.Lookups {
			places[i] = "`" + l.String() + "`"
		}
		doc := s.Doc
		if s.Secret {
			doc += " **Secret.**"
		}
		if s.Optional {
			doc += " Optional."
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Key, doc, strings.Join(places, ", "), strings.Join(s.Commands, "; "))
	}
	b.WriteString(`
## Process variables

Not settings an operator chooses, but plumbing between processes; listed so that every environment
variable the toolkit reads is named here. The Lambda functions' own variables are set by the CDK app
(` + "`constructs/`" + `) and read by their ` + "`lambdas/*/main.go`" + `.

| variable | what it is | read by |
|---|---|---|
`)
	for _, p := range ProcessVars {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.Name, p.Doc, p.ReadBy)
	}
	return b.String()
}
