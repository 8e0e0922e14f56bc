package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/carohealth/platform/regions"
)

// ErrNotFound is what a Cloud returns (wrapped) when the stack, output, secret or parameter does
// not exist: the resolver then tries the next place. Any other error is a problem it reports.
var ErrNotFound = errors.New("not found")

// Cloud reads the values the deployed platform keeps. Implemented over the AWS SDK by
// internal/config/awscloud; tests use fakes.
type Cloud interface {
	// StackOutputs returns the outputs of stack in region.
	StackOutputs(ctx context.Context, region, stack string) (map[string]string, error)
	// SecretString returns the string value of the secret name in region.
	SecretString(ctx context.Context, region, name string) (string, error)
	// Parameter returns the value of the SSM parameter name in region.
	Parameter(ctx context.Context, region, name string) (string, error)
	// Account returns the account the credentials belong to.
	Account(ctx context.Context) (string, error)
}

// StackName is the platform stack of region, whose outputs the settings read.
func StackName(region string) string { return "CaroPlatform-" + region }

// Loader resolves settings. Its zero value reads the process environment, the committed
// region definitions and environment file, and no cloud.
type Loader struct {
	// Env reads an environment variable (default: LookupEnv).
	Env func(string) (string, bool)
	// Flags are the flags the operator passed explicitly, by flag name (cobra's Changed flags):
	// never a flag's default.
	Flags map[string]string
	// Regions and Environment default to the committed ones.
	Regions     *regions.Set
	Environment *regions.Environment
	// Cloud reads stack outputs, secrets and parameters; nil looks nowhere in AWS.
	Cloud Cloud
	// Home is the operator's home folder (default os.UserHomeDir).
	Home string
}

// Load returns the configuration of region ("" means the region setting decides: --region, the
// environment, else the primary). Values are resolved when first asked for, so a command reads only
// the secrets it needs.
func (l *Loader) Load(ctx context.Context, region string) (*Config, error) {
	c := &Config{l: l, values: map[string]*Value{}, cloudCache: map[string]cached{}}
	if l.Regions == nil {
		set, err := regions.Default()
		if err != nil {
			return nil, err
		}
		c.regions = set
	} else {
		c.regions = *l.Regions
	}
	if l.Environment == nil {
		e, err := regions.DefaultEnvironment()
		if err != nil {
			return nil, err
		}
		c.env = e
	} else {
		c.env = *l.Environment
	}
	if region == "" {
		v := c.Value(ctx, KeyRegion)
		region = v.Value
		c.regionSource = v.Source
	} else {
		c.regionSource = "given"
	}
	if _, err := c.regions.Get(region); err != nil {
		return nil, fmt.Errorf("region %q (%s): %w", region, c.regionSource, err)
	}
	c.region = region
	return c, nil
}

// Config is the resolved configuration of one region. It is safe for concurrent use.
type Config struct {
	l            *Loader
	regions      regions.Set
	env          regions.Environment
	region       string
	regionSource string

	mu         sync.Mutex
	values     map[string]*Value
	cloudCache map[string]cached
}

type cached struct {
	value any
	err   error
}

// Region is the region the configuration is for.
func (c *Config) Region() string { return c.region }

// Regions are the region definitions the configuration was loaded with.
func (c *Config) Regions() regions.Set { return c.regions }

// Environment is the environment file the configuration was loaded with.
func (c *Config) Environment() regions.Environment { return c.env }

// Peer is the other region of a two-region deployment ("" when there is not exactly one other).
func (c *Config) Peer() string {
	var others []string
	for _, d := range c.regions.All() {
		if d.Region != c.region {
			others = append(others, d.Region)
		}
	}
	if len(others) != 1 {
		return ""
	}
	return others[0]
}

// String returns the setting's value, "" when it is found nowhere.
func (c *Config) String(ctx context.Context, key string) string { return c.Value(ctx, key).Value }

// Require resolves keys and returns one error naming every one that is missing, each with where
// it was looked for and how to set it.
func (c *Config) Require(ctx context.Context, keys ...string) error {
	var errs []error
	for _, k := range keys {
		if err := c.Value(ctx, k).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// All resolves every catalogued setting (for `caro config view`).
func (c *Config) All(ctx context.Context) []Value {
	out := make([]Value, 0, len(Catalogue))
	for _, s := range Catalogue {
		out = append(out, c.Value(ctx, s.Key))
	}
	return out
}

// Value resolves key (once; later calls return the same Value). An unknown key panics: it is a
// programming error, and the catalogue test lists every key the code uses.
func (c *Config) Value(ctx context.Context, key string) Value {
	s, ok := lookupSetting(key)
	if !ok {
		panic(fmt.Sprintf("config: no setting %q in the catalogue", key))
	}
	c.mu.Lock()
	if v, ok := c.values[key]; ok {
		c.mu.Unlock()
		return *v
	}
	c.mu.Unlock()
	v := c.resolve(ctx, s)
	c.mu.Lock()
	c.values[key] = &v
	c.mu.Unlock()
	return v
}

// Shadowed returns the value the platform itself holds for key (the first place after the winning
// one that has a value, not counting defaults) when an override (a flag or the environment) won
// and the two differ: at 3 a.m. an override left over from another day is a likelier mistake than
// a deployed value that is wrong, so the failover names both before anything changes.
func (c *Config) Shadowed(ctx context.Context, key string) (Value, bool) {
	won := c.Value(ctx, key)
	s, _ := lookupSetting(key)
	if !won.Found() {
		return Value{}, false
	}
	for i, l := range s.Lookups {
		if where := c.expandKnown(l.String()); where != won.Source {
			continue
		}
		if l.Kind != KindFlag && l.Kind != KindEnv {
			return Value{}, false
		}
		for _, next := range s.Lookups[i+1:] {
			if next.Kind == KindFlag || next.Kind == KindEnv || next.Kind == KindDefault || next.Kind == KindDerived {
				continue
			}
			val, where, err := c.lookup(ctx, next)
			if err != nil || val == "" {
				continue
			}
			if val == won.Value {
				return Value{}, false
			}
			return Value{Key: key, Value: val, Source: where, Secret: s.Secret}, true
		}
		return Value{}, false
	}
	return Value{}, false
}

func (c *Config) resolve(ctx context.Context, s Setting) Value {
	v := Value{Key: s.Key, Secret: s.Secret, fix: c.expandKnown(s.Fix)}
	for _, l := range s.Lookups {
		val, where, err := c.lookup(ctx, l)
		switch {
		case err != nil:
			v.Looked = append(v.Looked, fmt.Sprintf("%s: %v", where, err))
		case val == "":
			v.Looked = append(v.Looked, where+": not set")
		default:
			v.Value, v.Source = val, where
			return v
		}
	}
	return v
}

// lookup reads one place. It returns the value ("" when the place has none) and the place in the
// words shown to the operator.
func (c *Config) lookup(ctx context.Context, l Lookup) (val, where string, err error) {
	region := c.region
	if l.Peer {
		if region = c.Peer(); region == "" {
			return "", l.String(), errors.New("no single peer region is defined")
		}
	}
	name, err := c.expand(ctx, l.Name, region)
	where = c.expandKnown(l.String())
	if err != nil {
		return "", where, err
	}
	switch l.Kind {
	case KindFlag:
		return c.l.Flags[name], where, nil
	case KindEnv:
		get := c.l.Env
		if get == nil {
			get = LookupEnv
		}
		v, _ := get(name)
		return v, where, nil
	case KindDefault, KindDerived:
		return name, where, nil
	case KindEnvFile:
		v, err := c.expand(ctx, c.envFileField(name), region)
		return v, where, err
	case KindRegionFile:
		v, err := c.regionFileField(region, name)
		return v, where, err
	}
	if c.l.Cloud == nil {
		return "", where, errors.New("not looked up (no AWS access in this command)")
	}
	switch l.Kind {
	case KindStackOutput:
		outs, err := cloudOnce(c, "stack "+region, func() (map[string]string, error) {
			return c.l.Cloud.StackOutputs(ctx, region, StackName(region))
		})
		return outs[name], where, cloudErr(err)
	case KindSecret:
		raw, err := cloudOnce(c, "secret "+region+" "+name, func() (string, error) { return c.l.Cloud.SecretString(ctx, region, name) })
		where = fmt.Sprintf("secret %s in %s", name, region)
		if l.Field != "" {
			where += " (field " + l.Field + ")"
		}
		if err != nil || l.Field == "" {
			return raw, where, cloudErr(err)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(raw), &obj); err != nil {
			return "", where, errors.New("the secret is not a JSON object")
		}
		s, _ := obj[l.Field].(string)
		return s, where, nil
	case KindParameter:
		v, err := cloudOnce(c, "parameter "+region+" "+name, func() (string, error) { return c.l.Cloud.Parameter(ctx, region, name) })
		return v, fmt.Sprintf("SSM parameter %s in %s", name, region), cloudErr(err)
	case KindCredentials:
		v, err := cloudOnce(c, "account", func() (string, error) { return c.l.Cloud.Account(ctx) })
		return v, where, cloudErr(err)
	}
	return "", where, fmt.Errorf("unknown kind of place %q", l.Kind)
}

// cloudErr turns "not found" into an empty value (the next place is tried); other errors stay.
func cloudErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// cloudOnce runs read once per key for the Config's lifetime (one DescribeStacks per region, one
// read per secret).
func cloudOnce[T any](c *Config, key string, read func() (T, error)) (T, error) {
	c.mu.Lock()
	if r, ok := c.cloudCache[key]; ok {
		c.mu.Unlock()
		v, _ := r.value.(T)
		return v, r.err
	}
	c.mu.Unlock()
	v, err := read()
	c.mu.Lock()
	c.cloudCache[key] = cached{v, err}
	c.mu.Unlock()
	return v, err
}

func (c *Config) envFileField(field string) string {
	switch field {
	case "account":
		return c.env.Account
	case "releaseBucket":
		return c.env.ReleaseBucket
	case "atlasCredentialsSecret":
		return c.env.AtlasCredentialsSecret
	case "ledgerPublicKeys":
		var items []string
		for _, r := range c.env.PinnedRegions() {
			if v := strings.TrimSpace(c.env.LedgerPublicKeys[r]); v != "" {
				items = append(items, v)
			}
		}
		return strings.Join(items, ",")
	}
	return ""
}

// regionFileField reads a field of region's definition.
func (c *Config) regionFileField(region, field string) (string, error) {
	d, err := c.regions.Get(region)
	if err != nil {
		return "", err
	}
	switch field {
	case "retentionYears":
		return strconv.Itoa(d.RetentionYears), nil
	case "backupEveryHours":
		if d.BackupEveryHours == 0 {
			return "", nil // not in the file: the setting's default says so itself
		}
		return strconv.Itoa(d.BackupEveryHours), nil
	}
	return "", fmt.Errorf("no region-file field %q", field)
}

// expand fills the placeholders of a place's name; {account} is resolved itself (and may fail).
func (c *Config) expand(ctx context.Context, s, region string) (string, error) {
	s = strings.ReplaceAll(s, "{region}", region)
	s = c.expandKnown(s)
	if strings.Contains(s, "{account}") {
		acct := c.Value(ctx, KeyAccount)
		if acct.Value == "" {
			return "", errors.New("needs the account, which is unknown (" + strings.Join(acct.Looked, "; ") + ")")
		}
		s = strings.ReplaceAll(s, "{account}", acct.Value)
	}
	if strings.Contains(s, "{backup-every-hours}") {
		every := c.Value(ctx, KeyBackupEveryHours)
		if every.Value == "" {
			return "", errors.New("needs the backup schedule, which is unknown (" + strings.Join(every.Looked, "; ") + ")")
		}
		s = strings.ReplaceAll(s, "{backup-every-hours}", every.Value)
	}
	if strings.Contains(s, "{home}") {
		home := c.l.Home
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("needs the home folder: %w", err)
			}
			home = h
		}
		s = strings.ReplaceAll(s, "{home}", home)
	}
	return s, nil
}

// expandKnown fills the placeholders that need no lookup.
func (c *Config) expandKnown(s string) string {
	r := strings.NewReplacer("{region}", c.region, "{peer}", c.Peer(), "{atlas-secret}", c.env.AtlasCredentialsSecret)
	s = r.Replace(s)
	if strings.Contains(s, "{primary}") && len(c.regions.All()) > 0 {
		s = strings.ReplaceAll(s, "{primary}", c.regions.Primary().Region)
	}
	return s
}
