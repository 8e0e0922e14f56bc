// Package release publishes and reads the platform's releases: for each region, the platform
// stack's synthesized template and the list of assets it needs, under caro-releases/<version>/ in
// that region's release bucket (by default the CDK bootstrap assets bucket, where `cdk deploy` has
// already published the assets). A failover deploys a release from the target region's own bucket,
// so it needs no checkout, Go or Node on the on-call machine, and no other region.
//
// Layout in each region's bucket:
//
//	caro-releases/<version>/<stack>.template.json   the template, byte for byte as synthesized
//	caro-releases/<version>/release.json            the manifest, written last (a release without
//	                                                it does not exist): version, commit, and per stack
//	                                                the template's key, size and SHA-256 and the
//	                                                asset objects it references
package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/objstore"
	"github.com/carohealth/platform/internal/strictjson"
)

// Prefix is where releases live in a release bucket.
const Prefix = "caro-releases/"

// ManifestName is the manifest's file name in a release's folder.
const ManifestName = "release.json"

var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ValidVersion says why a version name cannot be used, nil when it can.
func ValidVersion(v string) error {
	if !versionPattern.MatchString(v) || strings.Contains(v, "..") {
		return fmt.Errorf("release version %q is not usable: use letters, digits, '.', '_', '+' and '-' (for example 1.4.2 or the commit SHA)", v)
	}
	return nil
}

// Manifest describes one release in one region.
type Manifest struct {
	Version   string    `json:"version"`
	Commit    string    `json:"commit,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Stacks are the release's stacks of this region, by stack name.
	Stacks map[string]Stack `json:"stacks"`
}

// Stack is one stack of a release.
type Stack struct {
	// Template is the template's object key; Size and SHA256 its length and hex SHA-256.
	Template string `json:"template"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// Assets are the object keys (Lambda bundles, nested templates) the template references in the
	// bucket; publishing checks each exists.
	Assets []string `json:"assets"`
}

// ManifestKey is the manifest's key of version.
func ManifestKey(version string) string { return Prefix + version + "/" + ManifestName }

// TemplateKey is the key of stack's template in version.
func TemplateKey(version, stack string) string {
	return Prefix + version + "/" + stack + ".template.json"
}

// PublishOptions configure Publish.
type PublishOptions struct {
	// Assembly is the synthesized cloud assembly (cdk.out) of this version.
	Assembly string
	Version  string
	Commit   string
	// Stacks are the stacks of this region to publish (e.g. CaroPlatform-eu-central-1).
	Stacks []string
	// Store is the region's release bucket.
	Store objstore.Store
	Now   func() time.Time
}

// Publish uploads the templates of o.Stacks and then the manifest. Every asset a template needs
// must already be in the bucket (published by `cdk deploy`): a release whose deploy would fail on a
// missing Lambda bundle is refused, naming the asset. Publishing the same version again with the
// same templates is a no-op success; with different templates it is refused (a version names one
// set of bytes forever).
func Publish(ctx context.Context, o PublishOptions) (Manifest, error) {
	if err := ValidVersion(o.Version); err != nil {
		return Manifest{}, err
	}
	if len(o.Stacks) == 0 {
		return Manifest{}, errors.New("release: no stacks to publish")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	m := Manifest{Version: o.Version, Commit: o.Commit, CreatedAt: now().UTC(), Stacks: map[string]Stack{}}
	bodies := map[string][]byte{}
	for _, name := range o.Stacks {
		body, err := os.ReadFile(filepath.Join(o.Assembly, name+".template.json"))
		if err != nil {
			return Manifest{}, fmt.Errorf("release %s: reading the template of %s: %w (synthesize first: make synth)", o.Version, name, err)
		}
		assets, err := assemblyAssets(o.Assembly, name)
		if err != nil {
			return Manifest{}, fmt.Errorf("release %s: %w", o.Version, err)
		}
		if err := requireObjects(ctx, o.Store, assets); err != nil {
			return Manifest{}, fmt.Errorf("release %s, stack %s: %w: deploy the stack (cdk deploy publishes its assets) before publishing the release", o.Version, name, err)
		}
		sum := sha256.Sum256(body)
		m.Stacks[name] = Stack{Template: TemplateKey(o.Version, name), Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), Assets: assets}
		bodies[name] = body
	}
	if old, err := ReadManifest(ctx, o.Store, o.Version); err == nil {
		return old, sameRelease(old, m)
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return Manifest{}, err
	}
	for name, body := range bodies {
		if err := o.Store.Put(ctx, m.Stacks[name].Template, bytes.NewReader(body), int64(len(body))); err != nil {
			return Manifest{}, fmt.Errorf("release %s: uploading the template of %s: %w", o.Version, name, err)
		}
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := o.Store.Put(ctx, ManifestKey(o.Version), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return Manifest{}, fmt.Errorf("release %s: writing the manifest: %w", o.Version, err)
	}
	return m, nil
}

// sameRelease refuses a republish of version with other templates.
func sameRelease(old, now Manifest) error {
	for name, s := range now.Stacks {
		if o, ok := old.Stacks[name]; !ok || o.SHA256 != s.SHA256 {
			return fmt.Errorf("release %s is already published with another template of %s (published %s, SHA-256 %s): a version names one set of templates; publish under a new version",
				old.Version, name, old.CreatedAt.Format(time.RFC3339), short(o.SHA256))
		}
	}
	return nil
}

// ReadManifest reads and checks version's manifest; a missing release wraps objstore.ErrNotFound.
func ReadManifest(ctx context.Context, store objstore.Store, version string) (Manifest, error) {
	if err := ValidVersion(version); err != nil {
		return Manifest{}, err
	}
	raw, err := readAll(ctx, store, ManifestKey(version))
	if err != nil {
		return Manifest{}, fmt.Errorf("release %s: %w", version, err)
	}
	// Only the form Publish writes: names exact, each once (strictjson).
	var m Manifest
	if err := strictjson.Decode(raw, &m); err != nil || m.Version != version || len(m.Stacks) == 0 {
		return Manifest{}, fmt.Errorf("release %s: the manifest %s is damaged or names another version (%v): publish the release again", version, ManifestKey(version), err)
	}
	return m, nil
}

// Template returns stack's template of m, checked against the manifest's SHA-256 and, when
// wantSHA is set (the plan's pin), against that too.
func Template(ctx context.Context, store objstore.Store, m Manifest, stack, wantSHA string) ([]byte, error) {
	s, ok := m.Stacks[stack]
	if !ok {
		names := make([]string, 0, len(m.Stacks))
		for n := range m.Stacks {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("release %s has no stack %s (it has %s)", m.Version, stack, strings.Join(names, ", "))
	}
	body, err := readAll(ctx, store, s.Template)
	if err != nil {
		return nil, fmt.Errorf("release %s: reading the template of %s: %w", m.Version, stack, err)
	}
	sum := sha256.Sum256(body)
	got := hex.EncodeToString(sum[:])
	if got != s.SHA256 {
		return nil, fmt.Errorf("release %s: the template of %s has SHA-256 %s, the manifest says %s: the release was altered; do not deploy it, publish it again from the pipeline",
			m.Version, stack, short(got), short(s.SHA256))
	}
	if wantSHA != "" && got != wantSHA {
		return nil, fmt.Errorf("release %s: the template of %s has SHA-256 %s, the plan pinned %s: make the plan again", m.Version, stack, short(got), short(wantSHA))
	}
	return body, nil
}

// Versions lists the releases in a bucket (those with a manifest), oldest first by name.
func Versions(ctx context.Context, store objstore.Store) ([]string, error) {
	objs, err := store.List(ctx, Prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, Prefix)
		if v, name, ok := strings.Cut(rest, "/"); ok && name == ManifestName {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out, nil
}

// assemblyAssets lists the object keys of the file assets stack's asset manifest publishes (its
// Lambda bundles and its own template copy), sorted.
func assemblyAssets(assembly, stack string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(assembly, stack+".assets.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the asset manifest of %s: %w", stack, err)
	}
	var am struct {
		Files map[string]struct {
			Destinations map[string]struct {
				ObjectKey string `json:"objectKey"`
			} `json:"destinations"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &am); err != nil {
		return nil, fmt.Errorf("the asset manifest of %s is not JSON: %w", stack, err)
	}
	seen := map[string]bool{}
	var keys []string
	for _, f := range am.Files {
		for _, d := range f.Destinations {
			if d.ObjectKey != "" && !seen[d.ObjectKey] {
				seen[d.ObjectKey] = true
				keys = append(keys, d.ObjectKey)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// PublishingRole is the role `cdk deploy` assumed to publish stack's file assets, as the
// assembly's asset manifest names it (the CDK bootstrap file-publishing role of the stack's
// region), with the account and partition filled in: the role that may write the bucket the
// release goes beside the assets. It fails when the manifest names none or several.
func PublishingRole(assembly, stack, account string) (string, error) {
	if account == "" {
		return "", fmt.Errorf("the publishing role of %s names the account, which is unknown: set \"account\" in regions/environment.json or supply AWS credentials", stack)
	}
	raw, err := os.ReadFile(filepath.Join(assembly, stack+".assets.json"))
	if err != nil {
		return "", fmt.Errorf("reading the asset manifest of %s: %w", stack, err)
	}
	var am struct {
		Files map[string]struct {
			Destinations map[string]struct {
				AssumeRoleArn string `json:"assumeRoleArn"`
			} `json:"destinations"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &am); err != nil {
		return "", fmt.Errorf("the asset manifest of %s is not JSON: %w", stack, err)
	}
	fill := strings.NewReplacer("${AWS::AccountId}", account, "${AWS::Partition}", "aws")
	roles := map[string]bool{}
	for _, f := range am.Files {
		for _, d := range f.Destinations {
			if d.AssumeRoleArn != "" {
				roles[fill.Replace(d.AssumeRoleArn)] = true
			}
		}
	}
	if len(roles) != 1 {
		return "", fmt.Errorf("the asset manifest of %s names %d publishing roles, want one (synthesized with the CDK's default stack synthesizer?)", stack, len(roles))
	}
	for r := range roles {
		if strings.Contains(r, "${") {
			return "", fmt.Errorf("the publishing role %s of %s has a placeholder left that caro cannot fill in", r, stack)
		}
		return r, nil
	}
	return "", nil
}

// requireObjects fails naming the first key that is not in store.
func requireObjects(ctx context.Context, store objstore.Store, keys []string) error {
	for _, k := range keys {
		objs, err := store.List(ctx, k)
		if err != nil {
			return err
		}
		found := false
		for _, o := range objs {
			found = found || o.Key == k
		}
		if !found {
			return fmt.Errorf("asset %s is not in the release bucket", k)
		}
	}
	return nil
}

func readAll(ctx context.Context, store objstore.Store, key string) ([]byte, error) {
	r, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
