package main

import (
	"context"
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/failover"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
	awsprov "github.com/carohealth/platform/internal/providers/aws"
)

// newAWSFailoverProvider builds the AWS provider (internal/providers/aws, where every AWS call of
// the failover lives) from the configuration of the target region.
func newAWSFailoverProvider(ctx context.Context, target string, settings map[string]string) (failover.Provider, error) {
	// The plan's choices of what to deploy are settings too (pinned in the plan for apply).
	flags := map[string]string{}
	for _, k := range []string{config.KeyRelease, config.KeyCDKOut} {
		if v := settings[k]; v != "" {
			flags[k] = v
		}
	}
	cfg, err := failoverConfig(ctx, target, flags)
	if err != nil {
		return nil, err
	}
	c := awsprov.ConfigFrom(ctx, cfg)
	addOperatorInputs(&c, cfg.String(ctx, config.KeyLedgerPublicKeys))
	return awsprov.New(ctx, c)
}

// failoverConfig resolves the configuration of the failover's target region, looking in AWS too
// (the target stack's outputs, the connection-string and Atlas secrets, the peer's parameters)
// with the operator's credentials; flags are the plan's flags that are settings.
func failoverConfig(ctx context.Context, target string, flags map[string]string) (*config.Config, error) {
	return (&config.Loader{Cloud: newCloud(), Flags: flags}).Load(ctx, target)
}

// addOperatorInputs adds to c what the CLI knows: the pinned ledger keys parsed (as 'caro audit
// --public-key' takes them), the operator as the restore's audit origin, and its events delivered
// inline when an audit topic is configured.
func addOperatorInputs(c *awsprov.Config, ledgerKeys string) {
	c.Restore.Origin = func(ctx context.Context, region string) audit.Origin {
		return commandOrigin(ctx, region, audit.InterfaceJob)
	}
	c.Restore.Deliver = func(ctx context.Context, region string, db *mongo.Database, events []audit.Written, unstored *audit.Event) {
		deliverAuditEvents(ctx, progressLines(failover.ProgressFrom(ctx)), region, db, events, unstored)
	}
	if c.Restore.LedgerPublicKey != nil || c.Restore.LedgerPublicKeys != nil || c.Restore.LedgerKeyProblem != "" {
		return // the pinned keys, read by ConfigFrom (pinnedkeys.Load)
	}
	single, ring, err := ledgerPinnedKeys(ledgerKeys)
	switch {
	case err != nil:
		c.Restore.LedgerKeyProblem = err.Error()
	case ring != nil:
		if c.Restore.LedgerPublicKeys, err = ledger.NewKeyRing(ring); err != nil {
			c.Restore.LedgerKeyProblem = err.Error()
		}
	default:
		if c.Restore.LedgerPublicKey, err = ledger.ParsePublicKey(single); err != nil {
			c.Restore.LedgerKeyProblem = err.Error()
		}
	}
}

// ledgerPinnedKeys reads the pinned ledger keys (setting ledger-public-keys) with the one loader
// of pinned keys (pinnedkeys.Load): the committed "<key ARN>=<base64 DER>" items of
// regions/environment.json, KEYID=FILE items, or one PEM (or DER) file, a single key checking
// checkpoints of any key ID as on a first failover. Paths are named in errors, contents never echoed.
func ledgerPinnedKeys(value string) (single []byte, ring map[string][]byte, err error) {
	keys, err := pinnedkeys.Load(envLedgerPublicKey, value)
	if err == nil && keys.Empty() {
		err = errors.New("no ledger key is pinned (" + envLedgerPublicKey + " is not set and regions/environment.json pins none)")
	}
	return keys.Single, keys.ByKeyID, err
}

// progressLines adapts a failover progress function to an io.Writer, one call per line.
type progressLines failover.Progress

func (p progressLines) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		p("%s", l)
	}
	return len(b), nil
}
