package main

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carohealth/platform/internal/config"
)

// envDefaultDebt lists the flags whose default is still read from the environment, to be moved
// onto internal/config (resolved after parsing) as their owners' files are swept. It may only
// shrink: a flag not in it fails the test, and so does an entry that is fixed.
var envDefaultDebt = map[string]bool{}

// TestNoFlagDefaultComesFromTheEnvironment: a flag's default is printed by --help (and by the
// generated reference), so a default read from the environment shows a secret to anyone who asks
// for help. GIVEN every environment variable of the settings catalogue (and HOME) set to a value
// of its own WHEN the command tree is built THEN no flag's default contains one of those values.
func TestNoFlagDefaultComesFromTheEnvironment(t *testing.T) {
	sentinels := setSentinelEnvironment(t)
	root := newRootCmd(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	got := map[string]string{}
	walkFlags(root, func(c *cobra.Command, f *pflag.Flag) {
		for name, v := range sentinels {
			if strings.Contains(f.DefValue, v) {
				got[c.CommandPath()+" --"+f.Name] = name
			}
		}
	})
	var fresh, stale []string
	for flag, env := range got {
		if !envDefaultDebt[flag] {
			fresh = append(fresh, flag+" (its default is "+env+")")
		}
	}
	for flag := range envDefaultDebt {
		if _, ok := got[flag]; !ok {
			stale = append(stale, flag)
		}
	}
	sort.Strings(fresh)
	sort.Strings(stale)
	if len(fresh) > 0 {
		t.Errorf("flag defaults read from the environment (help would print them): give the flag a plain default and resolve the setting after parsing (loadConfig, internal/config):\n  %s",
			strings.Join(fresh, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("these no longer take their default from the environment: remove them from envDefaultDebt:\n  %s", strings.Join(stale, "\n  "))
	}
}

// setSentinelEnvironment sets every environment variable the catalogue names, a few the commands
// read on their own, and HOME, each to a value of its own, and returns them by name.
func setSentinelEnvironment(t *testing.T) map[string]string {
	t.Helper()
	names := []string{"CARO_DATABASE", "CARO_VERIFY_MONGODB_URI", "CARO_LEDGER_PEER_PUBLIC_KEYS"}
	for _, s := range config.Catalogue {
		names = append(names, s.EnvVars()...)
	}
	out := map[string]string{}
	for _, n := range names {
		v := "sentinel-" + strings.ToLower(n)
		switch {
		case strings.HasSuffix(n, "MONGODB_URI"):
			v = "mongodb://admin:" + v + "@db.invalid/"
		case strings.HasSuffix(n, "MAX_AGE"):
			v = "17m31s" // a duration flag prints its parsed value
		}
		t.Setenv(n, v)
		out[n] = v
	}
	home := "/sentinel-home"
	t.Setenv("HOME", home)
	out["HOME"] = home
	return out
}

// walkFlags calls fn for every flag a command defines itself (local and persistent), over the
// whole tree.
func walkFlags(c *cobra.Command, fn func(*cobra.Command, *pflag.Flag)) {
	c.LocalFlags().VisitAll(func(f *pflag.Flag) { fn(c, f) })
	for _, s := range c.Commands() {
		walkFlags(s, fn)
	}
}
