package main

import (
	"context"
	"errors"

	"github.com/carohealth/platform/internal/failover"
)

// newAWSFailoverProvider wires the AWS provider from the default credential chain.
func newAWSFailoverProvider(ctx context.Context, settings map[string]string) (failover.Provider, error) {
	return nil, errors.New("aws provider: not wired yet")
}
