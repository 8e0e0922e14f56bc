// Package config is the one place the toolkit's settings are resolved. A setting is looked up, in
// the order its catalogue entry gives, in: a flag the operator passed, an environment variable
// (an override, never a default of a flag), the deployed stacks' outputs, the secrets and
// parameters the platform keeps, the committed environment file and region definitions
// (regions/), and a default. Every resolved Value says where it came from, and a secret's value
// is never printed. A missing value is an error that names the setting, every place it was looked
// for, and how to set it.
//
// Nothing else in the toolkit reads the process environment (a test enforces it); the Lambda
// functions' wiring (lambdas/*/main.go) keeps its own, set by the CDK app.
//
// The catalogue (Catalogue) is the settings reference: docs/settings.md is generated from it
// (`make docs`), and a test fails when that file is stale.
package config
