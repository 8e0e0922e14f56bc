package aws

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/atlas"
	"github.com/carohealth/platform/internal/config"
	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// ConfigFrom reads the provider's configuration from cfg, the configuration of the failover's
// target region: every value it takes is listed in SettingLines with its source. What only the
// caller knows (the restore's audit origin and delivery, the pinned ledger keys' parsing) is left
// for it to add.
func ConfigFrom(ctx context.Context, cfg *config.Config) Config {
	var lines []string
	var read []string
	get := func(key string) string {
		v := cfg.Value(ctx, key)
		read = append(read, key)
		if v.Found() {
			lines = append(lines, fmt.Sprintf("setting %s = %s (%s)", v.Key, v.Display(), v.Source))
		}
		return v.Value
	}
	duration := func(key string) time.Duration {
		d, _ := time.ParseDuration(get(key))
		return d
	}
	c := Config{Regions: cfg.Regions(), ARCEndpoints: get(config.KeyARCEndpoints), AssemblyDir: get(config.KeyCDKOut),
		Release: get(config.KeyRelease), ReleaseBucket: get(config.KeyReleaseBucket), MaxBackupAge: duration(config.KeyMaxBackupAge),
		PeerBackupKeyArn: get(config.KeyPeerBackupKey), OriginSecret: get(config.KeyOriginSecret), AtlasBaseURL: get(config.KeyAtlasBaseURL)}
	c.Restore = RestoreSettings{TargetMongoURI: get(config.KeyFailoverMongoURI), Database: get(config.KeyDatabase),
		OwnBackupBucket: get(config.KeyFailoverBackupBucket), LedgerReplicaBucket: get(config.KeyFailoverLedgerReplicaBucket),
		LedgerOwnBucket: get(config.KeyFailoverLedgerBucket), LedgerMaxAge: duration(config.KeyLedgerMaxAge)}
	c.Restore.LedgerRetentionYears, _ = strconv.Atoi(get(config.KeyLedgerRetentionYears))
	c.Restore.RetentionYears, _ = strconv.Atoi(get(config.KeyRetentionYears))
	// The RPO the plan and readiness state; not a positive number of hours: unset (the default).
	hours, _ := strconv.Atoi(get(config.KeyBackupEveryHours))
	c.Restore.BackupInterval = time.Duration(max(hours, 0)) * time.Hour
	for _, k := range []string{config.KeyBackupKey, config.KeyPeerBackupKey} {
		for _, v := range strings.Split(cfg.String(ctx, k), ",") {
			if v = strings.TrimSpace(v); v != "" {
				c.Restore.AcceptedBackupKeys = append(c.Restore.AcceptedBackupKeys, v)
			}
		}
	}
	vars := map[string]string{
		atlas.EnvClientID: get(config.KeyAtlasClientID), atlas.EnvClientSecret: get(config.KeyAtlasClientSecret),
		atlas.EnvPublicKey: get(config.KeyAtlasPublicKey), atlas.EnvPrivateKey: get(config.KeyAtlasPrivateKey),
	}
	if creds, err := atlas.CredentialsFromEnv(func(n string) string { return vars[n] }); err == nil {
		c.Atlas = &creds
	}
	// The pinned ledger keys, in any form operators give them (pinnedkeys.Load, the one loader:
	// the committed <key ARN>=<base64 DER> items, KEYID=FILE items, or one PEM file alone).
	if v := get(config.KeyLedgerPublicKeys); v != "" {
		source := SettingLedgerPublicKey
		if src := cfg.Value(ctx, config.KeyLedgerPublicKeys).Source; !strings.HasSuffix(src, SettingLedgerPublicKey) {
			source = "setting " + config.KeyLedgerPublicKeys + " (" + src + ")"
		}
		keys, err := pinnedkeys.Load(source, v)
		switch {
		case err != nil:
			c.Restore.LedgerKeyProblem = err.Error()
		case keys.Single != nil:
			if c.Restore.LedgerPublicKey, err = ledger.ParsePublicKey(keys.Single); err != nil {
				c.Restore.LedgerKeyProblem = err.Error()
			}
		case len(keys.ByKeyID) > 0:
			if c.Restore.LedgerPublicKeys, err = ledger.NewKeyRing(keys.ByKeyID); err != nil {
				c.Restore.LedgerKeyProblem = err.Error()
			}
		}
	}
	c.SettingLines = lines
	c.SettingWarnings, c.SettingProblems = contradictions(ctx, cfg, read)
	return c
}

// contradictions are the settings that disagree: an override that differs from what the platform
// holds for it (a warning naming both: the override wins), and values that cannot be right for the
// target region (a blocker: a backup key in another region cannot decrypt the target's replicas).
func contradictions(ctx context.Context, cfg *config.Config, keys []string) (warnings, problems []string) {
	seen := map[string]bool{}
	for _, key := range keys {
		if seen[key] {
			continue
		}
		seen[key] = true
		if platform, ok := cfg.Shadowed(ctx, key); ok {
			won := cfg.Value(ctx, key)
			warnings = append(warnings, fmt.Sprintf("setting %s = %s (%s) overrides %s (%s): the override wins; unset it unless the platform's value is wrong",
				key, won.Display(), won.Source, platform.Display(), platform.Source))
		}
	}
	for _, k := range []string{config.KeyBackupKey, config.KeyPeerBackupKey} {
		for _, arn := range strings.Split(cfg.String(ctx, k), ",") {
			if arn = strings.TrimSpace(arn); arn == "" {
				continue
			}
			if region := arnRegion(arn); region != cfg.Region() {
				src := cfg.Value(ctx, k).Source
				problems = append(problems, fmt.Sprintf("setting %s names key %s in %q (%s), but the failover decrypts in %s: a key of another region cannot read %s's backups; correct the setting (caro config view --region %s)",
					k, arn, region, src, cfg.Region(), cfg.Region(), cfg.Region()))
			}
		}
	}
	return warnings, problems
}

// arnRegion is the region field of an ARN ("" when it has none).
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}
