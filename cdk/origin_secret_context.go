package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/carohealth/platform/constructs/edge"
)

// Context keys of the origin secret's rotation (docs/deploy.md, "Rotating the origin secret").
const (
	// originSecretVersionContext pins the version of the origin secret CloudFront sends and every
	// regional WAF accepts: -c originSecretVersion=<Secrets Manager version ID>. Without it both
	// name the version staged AWSCURRENT at their last update.
	originSecretVersionContext = "originSecretVersion"
	// originSecretAcceptContext names more versions the regional WAFs accept during a rotation:
	// -c originSecretAccept=<version ID>[,<version ID>].
	originSecretAcceptContext = "originSecretAccept"
)

// originSecretVersions are the versions the regional WAFs accept: the one CloudFront sends
// (version, "" for AWSCURRENT) and those of accept (comma-separated). nil: AWSCURRENT only.
func originSecretVersions(version, accept string) ([]string, error) {
	if accept != "" && version == "" {
		return nil, fmt.Errorf("context %s=%s without %s: name the version CloudFront sends too (docs/deploy.md, rotating the origin secret)",
			originSecretAcceptContext, accept, originSecretVersionContext)
	}
	if version == "" {
		return nil, nil
	}
	out := []string{version}
	for _, v := range strings.Split(accept, ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, v := range out {
		if err := edge.ValidateOriginSecretVersion(v); err != nil {
			return nil, fmt.Errorf("context %s/%s: %w", originSecretVersionContext, originSecretAcceptContext, err)
		}
	}
	return out, nil
}
