package config

import (
	"fmt"
	"strings"
)

// Kind is a kind of place a setting is looked up in.
type Kind string

// The kinds of places, in the words the settings reference and `caro config view` use.
const (
	KindFlag        Kind = "flag"
	KindEnv         Kind = "environment"
	KindStackOutput Kind = "stack output"
	KindSecret      Kind = "secret"
	KindParameter   Kind = "SSM parameter"
	KindEnvFile     Kind = "environment file"
	KindRegionFile  Kind = "region file"
	KindDerived     Kind = "derived"
	KindDefault     Kind = "default"
	// KindCredentials asks AWS who the credentials belong to (STS GetCallerIdentity).
	KindCredentials Kind = "AWS credentials"
)

// Lookup is one place a setting may come from. Name may hold the placeholders {region} (the
// region the command acts on), {peer} (the other region) and {account}.
type Lookup struct {
	Kind Kind
	// Name is the flag (without dashes), the environment variable, the stack output key (of
	// CaroPlatform-{region}), the secret or parameter name, the JSON field of the environment file
	// or region definition, the template of a derived value, or the default value.
	Name string
	// Field, for a secret holding a JSON object, is the member that holds the value.
	Field string
	// Peer reads the stack output, secret or parameter of the peer region instead of {region}.
	Peer bool
}

// Flag, Env, ... build Lookups.
func Flag(name string) Lookup           { return Lookup{Kind: KindFlag, Name: name} }
func Env(name string) Lookup            { return Lookup{Kind: KindEnv, Name: name} }
func StackOutput(key string) Lookup     { return Lookup{Kind: KindStackOutput, Name: key} }
func PeerStackOutput(key string) Lookup { return Lookup{Kind: KindStackOutput, Name: key, Peer: true} }
func Secret(name string) Lookup         { return Lookup{Kind: KindSecret, Name: name} }
func SecretField(name, f string) Lookup { return Lookup{Kind: KindSecret, Name: name, Field: f} }
func Parameter(name string) Lookup      { return Lookup{Kind: KindParameter, Name: name} }
func PeerParameter(name string) Lookup  { return Lookup{Kind: KindParameter, Name: name, Peer: true} }
func EnvFile(field string) Lookup       { return Lookup{Kind: KindEnvFile, Name: field} }
func RegionFile(field string) Lookup    { return Lookup{Kind: KindRegionFile, Name: field} }
func Derived(template string) Lookup    { return Lookup{Kind: KindDerived, Name: template} }
func Default(value string) Lookup       { return Lookup{Kind: KindDefault, Name: value} }

// String names the place as the reference and messages do, e.g. "secret caro/{region}/mongodb-uri".
func (l Lookup) String() string {
	var s string
	switch l.Kind {
	case KindFlag:
		s = "flag --" + l.Name
	case KindEnv:
		s = "environment " + l.Name
	case KindStackOutput:
		s = "stack output " + l.Name + " of CaroPlatform-{region}"
	case KindEnvFile:
		s = "regions/environment.json " + l.Name
	case KindRegionFile:
		s = "regions/{region}.json " + l.Name
	case KindDefault:
		s = fmt.Sprintf("default %q", l.Name)
	default:
		s = string(l.Kind) + " " + l.Name
	}
	if l.Field != "" {
		s += " (field " + l.Field + ")"
	}
	if l.Peer {
		s = strings.ReplaceAll(s, "{region}", "{peer}") + " in {peer}"
	}
	return s
}

// Setting is one entry of the catalogue.
type Setting struct {
	// Key names the setting everywhere (`caro config view`, errors, the reference, struct tags).
	Key string
	// Doc says what it is, in one sentence.
	Doc string
	// Secret values are never printed, only that they are set and where from.
	Secret bool
	// Lookups are the places, in order: the first that has a value wins.
	Lookups []Lookup
	// Fix says what to do when the setting is needed and found nowhere.
	Fix string
	// Optional settings change nothing that fails when they are missing (no Fix needed).
	Optional bool
	// Commands are the commands that read it (the reference lists them).
	Commands []string
}

// EnvVars lists the environment variables the setting reads.
func (s Setting) EnvVars() []string {
	var out []string
	for _, l := range s.Lookups {
		if l.Kind == KindEnv {
			out = append(out, l.Name)
		}
	}
	return out
}

// DefaultValue is the setting's default ("" when it has none).
func (s Setting) DefaultValue() string {
	for _, l := range s.Lookups {
		if l.Kind == KindDefault {
			return l.Name
		}
	}
	return ""
}
