package regions

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"

	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
	"github.com/carohealth/platform/internal/strictjson"
)

// EnvironmentFile is the one file beside the region definitions for what is not per region.
const EnvironmentFile = "environment.json"

// DefaultAtlasCredentialsSecret is the Secrets Manager secret MongoDB's CloudFormation extensions
// read the Atlas API key from (their "default" profile); the CLI reads the same one.
const DefaultAtlasCredentialsSecret = "cfn/atlas/profile/default"

// Environment is what a deployment shares across its regions. Nothing in it is secret: the ledger
// public keys are the trust anchors verification pins, and committing them keeps a verifier from
// trusting whatever key the (possibly compromised) account serves.
type Environment struct {
	// Name names the environment in messages ("production").
	Name string `json:"name"`
	// Account is the AWS account ID (12 digits). Empty: unknown until credentials tell it.
	Account string `json:"account"`
	// ReleaseBucket is, per region, the bucket the pipeline publishes each release's templates to
	// ({account} and {region} are filled in; empty: the CDK bootstrap bucket, where cdk deploy
	// publishes the assets the templates reference).
	ReleaseBucket string `json:"releaseBucket"`
	// AtlasCredentialsSecret names the secret with the Atlas Admin API key (default
	// DefaultAtlasCredentialsSecret).
	AtlasCredentialsSecret string `json:"atlasCredentialsSecret"`
	// LedgerPublicKeys pins, per region, the audit ledger's signing keys in the pinnedkeys format
	// ("<key ARN>=<base64 DER>[,...]", printed by `caro audit public-key`).
	LedgerPublicKeys map[string]string `json:"ledgerPublicKeys"`

	// File is the file the environment was read from.
	File string `json:"-"`
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// PinnedLedgerKeys returns region's pinned ledger keys (none when not pinned).
func (e Environment) PinnedLedgerKeys(region string) ([]pinnedkeys.Key, error) {
	return pinnedkeys.Parse(e.LedgerPublicKeys[region])
}

// PinnedRegions lists the regions with pinned ledger keys, sorted.
func (e Environment) PinnedRegions() []string {
	var out []string
	for r := range e.LedgerPublicKeys {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// DefaultEnvironment returns the committed environment file, compiled into the binary.
func DefaultEnvironment() (Environment, error) { return LoadEnvironmentFS(embedded, ".") }

// LoadEnvironment reads dir/environment.json.
func LoadEnvironment(dir string) (Environment, error) { return LoadEnvironmentFS(os.DirFS(dir), ".") }

// LoadEnvironmentFS reads environment.json in dir of fsys.
func LoadEnvironmentFS(fsys fs.FS, dir string) (Environment, error) {
	name := path.Join(dir, EnvironmentFile)
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return Environment{}, fmt.Errorf("%s: %w (every deployment has one environment file beside its region definitions)", name, err)
	}
	return ParseEnvironment(name, raw)
}

// ParseEnvironment decodes and validates an environment file; field names match exactly
// (strictjson), so a typo cannot fall back to a default nor a second spelling override the first.
func ParseEnvironment(file string, raw []byte) (Environment, error) {
	var e Environment
	if err := strictjson.Decode(raw, &e); err != nil {
		return Environment{}, fmt.Errorf("%s: malformed environment file: %v", file, err)
	}
	e.File = file
	if e.AtlasCredentialsSecret == "" {
		e.AtlasCredentialsSecret = DefaultAtlasCredentialsSecret
	}
	return e, e.validate()
}

func (e Environment) validate() error {
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: field %q %s", e.File, field, fmt.Sprintf(format, args...))
	}
	if e.Name == "" {
		return fail("name", "is missing: name the environment, for example \"production\"")
	}
	if e.Account != "" && !accountID.MatchString(e.Account) {
		return fail("account", "is %q, which is not an AWS account ID (12 digits); leave it empty to take it from the credentials", e.Account)
	}
	for _, r := range e.PinnedRegions() {
		if !KnownAWSRegion(r) {
			return fail("ledgerPublicKeys", "names %q, which is not an AWS region", r)
		}
		if _, err := e.PinnedLedgerKeys(r); err != nil {
			return fail("ledgerPublicKeys."+r, "is not a list of pinned keys: %v (paste the item `caro audit public-key` prints)", err)
		}
	}
	return nil
}
