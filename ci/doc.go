// Package ci holds the pipeline's workstation tooling (gitlab-ci-local, pinned in package.json) and a
// test of .gitlab-ci.yml: the invariants that make the pipeline a security control (deploys only
// through OIDC from protected refs of what was synthesized and nag-checked, production by hand after
// the staging attack suite, audits that cannot be skipped, scheduled jobs only on schedules).
package ci
