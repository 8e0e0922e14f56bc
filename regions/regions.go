// Package regions loads and validates the deployment region definitions: one JSON file per AWS region
// in this folder (eu-west-1.json is the primary, eu-central-1.json the standby). The CDK app builds
// one platform stack per definition and the failover CLI reads them to know where it may go.
package regions

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/carohealth/platform/internal/strictjson"
)

// DefaultBackupEveryHours is the backup schedule when a definition does not say (issue 21: every
// 6 hours instead of daily).
const DefaultBackupEveryHours = 6

// BackupInterval is the region's backup schedule.
func (d Definition) BackupInterval() time.Duration {
	if d.BackupEveryHours > 0 {
		return time.Duration(d.BackupEveryHours) * time.Hour
	}
	return DefaultBackupEveryHours * time.Hour
}

// DefaultRetentionYears is how long patient data and audit records are kept when a definition does
// not say (the Dutch security page promises 9 years, as NEN7510 and the WGBO ask of medical records).
const DefaultRetentionYears = 9

// Definition is one deployment region.
type Definition struct {
	// Region is the AWS region name, for example "eu-west-1"; it must match the file name.
	Region string `json:"region"`
	// Primary marks the region that serves traffic normally. Exactly one region is primary.
	Primary bool `json:"primary"`
	// Domain is the registered domain; the API's regional origin is api-origin.<Domain>.
	Domain string `json:"domain"`
	// AppDomain and APIDomain are the names viewers use (served by the one CloudFront distribution).
	AppDomain string `json:"appDomain"`
	APIDomain string `json:"apiDomain"`
	// HostedZoneID is the Route 53 public hosted zone of Domain.
	HostedZoneID string `json:"hostedZoneId"`
	// Atlas names the MongoDB Atlas project and cluster the handlers of this region use.
	Atlas Atlas `json:"atlas"`
	// AlertEmail receives the on-call alerts of this region.
	AlertEmail string `json:"alertEmail"`
	// RetentionYears is the data-retention period (default 9).
	RetentionYears int `json:"retentionYears"`
	// ViewerCountries are the ISO 3166-1 alpha-2 countries CloudFront serves.
	ViewerCountries []string `json:"viewerCountries"`
	// Load is the API load the region is sized for (its functions' reserved concurrency); nil
	// takes DefaultAPILoad.
	Load *APILoad `json:"load,omitempty"`
	// BackupEveryHours is the backup schedule (0: DefaultBackupEveryHours): the RPO of a failover
	// from a logical backup is at most this plus the backup's duration.
	BackupEveryHours int `json:"backupEveryHours,omitempty"`

	// File is the file the definition was read from.
	File string `json:"-"`
}

// Atlas identifies a MongoDB Atlas project and cluster.
type Atlas struct {
	ProjectID string `json:"projectId"`
	Cluster   string `json:"cluster"`
	// ReplicationSpecID is the cluster's replication spec ID (replicationSpecs[0].id of the Atlas
	// Admin API's cluster, or atlas clusters describe), which Atlas requires in the backup
	// schedule's snapshot copy settings. Required in the primary when KeyAccess is set (the CDK app
	// then declares the backup schedule, and refuses to synthesize without it); a standby's stack
	// does not use it, so a standby may lack it until a failback makes it the primary.
	ReplicationSpecID string `json:"replicationSpecId,omitempty"`
	// KeyAccess is the project's cloud-provider access to AWS KMS (set up once in Atlas; there is no
	// CloudFormation type for it). Without it the CDK app declares no Atlas settings for the region.
	KeyAccess *AtlasKeyAccess `json:"keyAccess,omitempty"`
}

// AtlasKeyAccess is what `atlas cloudProviders accessRoles aws create` returns for a project: the
// AWS principal Atlas assumes our KMS key access with, its external ID and the Atlas role ID.
type AtlasKeyAccess struct {
	AtlasAWSAccountARN string `json:"atlasAwsAccountArn"`
	ExternalID         string `json:"externalId"`
	RoleID             string `json:"roleId"`
}

// APILoad is the stated load model of a region's API: the peak request rate it must serve and how
// long a request takes at that peak. By Little's law the API function needs rate x duration
// concurrent executions; the CDK app reserves twice that.
type APILoad struct {
	// APIPeakRequestsPerSecond is the peak rate of API requests (through CloudFront) per second.
	APIPeakRequestsPerSecond float64 `json:"apiPeakRequestsPerSecond"`
	// APIRequestSeconds is the mean duration of an API request at that peak, in seconds.
	APIRequestSeconds float64 `json:"apiRequestSeconds"`
}

// DefaultAPILoad is the load a definition without "load" is sized for: 50 requests per second of
// 0.2 s each (10 concurrent executions, 20 reserved).
var DefaultAPILoad = APILoad{APIPeakRequestsPerSecond: 50, APIRequestSeconds: 0.2}

// APILoad is the definition's Load, or DefaultAPILoad.
func (d Definition) APILoad() APILoad {
	if d.Load == nil {
		return DefaultAPILoad
	}
	return *d.Load
}

// APIOriginDomain is the regional API name that the Route 53 failover record serves and CloudFront
// uses as its API origin.
func (d Definition) APIOriginDomain() string { return "api-origin." + d.Domain }

// Set is a validated collection of region definitions.
type Set struct {
	defs []Definition // sorted: primary first, then by region name
}

// All returns every definition, the primary first.
func (s Set) All() []Definition { return append([]Definition(nil), s.defs...) }

// Primary returns the primary region.
func (s Set) Primary() Definition { return s.defs[0] }

// Standbys returns the regions that are not primary.
func (s Set) Standbys() []Definition { return append([]Definition(nil), s.defs[1:]...) }

// Get returns the definition of region name.
func (s Set) Get(name string) (Definition, error) {
	for _, d := range s.defs {
		if d.Region == name {
			return d, nil
		}
	}
	names := make([]string, len(s.defs))
	for i, d := range s.defs {
		names[i] = d.Region
	}
	return Definition{}, fmt.Errorf("region %q is not defined: the defined regions are %s (add regions/%s.json to define it)",
		name, strings.Join(names, ", "), name)
}

//go:embed *.json
var embedded embed.FS

// Default returns the definitions committed in this folder, compiled into the binary so the CLI
// works from any directory.
func Default() (Set, error) { return LoadFS(embedded, ".") }

// Load reads every *.json file of dir.
func Load(dir string) (Set, error) { return LoadFS(os.DirFS(dir), ".") }

// LoadFS reads every *.json file of dir in fsys and validates the whole set.
func LoadFS(fsys fs.FS, dir string) (Set, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.json"))
	if err != nil {
		return Set{}, fmt.Errorf("reading region definitions in %s: %w", dir, err)
	}
	if len(names) == 0 {
		return Set{}, fmt.Errorf("no region definitions in %s: add one <region>.json per deployment region", dir)
	}
	var defs []Definition
	var errs []error
	for _, name := range names {
		if path.Base(name) == EnvironmentFile {
			continue // not a region: what the regions share (environment.go)
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		d, err := Parse(name, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defs = append(defs, d)
	}
	if len(errs) > 0 {
		return Set{}, errors.Join(errs...)
	}
	return newSet(defs)
}

func newSet(defs []Definition) (Set, error) {
	var primaries []string
	for _, d := range defs {
		if d.Primary {
			primaries = append(primaries, d.File)
		}
	}
	switch len(primaries) {
	case 0:
		return Set{}, errors.New("no primary region: set \"primary\": true in exactly one region definition")
	case 1:
	default:
		return Set{}, fmt.Errorf("%d primary regions (%s): set \"primary\": true in exactly one region definition",
			len(primaries), strings.Join(primaries, ", "))
	}
	first := defs[0]
	for _, d := range defs[1:] {
		if d.Domain != first.Domain || d.AppDomain != first.AppDomain || d.APIDomain != first.APIDomain {
			return Set{}, fmt.Errorf("%s: field domain/appDomain/apiDomain differs from %s: all regions serve the same names, so they must agree",
				d.File, first.File)
		}
	}
	sort.Slice(defs, func(i, j int) bool {
		if defs[i].Primary != defs[j].Primary {
			return defs[i].Primary
		}
		return defs[i].Region < defs[j].Region
	})
	return Set{defs: defs}, nil
}

var (
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	hostname    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	zoneID      = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)
	atlasID     = regexp.MustCompile(`^[0-9a-f]{24}$`)
	clusterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// Parse decodes and validates one definition; file names it in errors. Field names match exactly
// (strictjson): an unknown field, a name in another letter case or a field given twice is refused, so
// a typo cannot silently fall back to a default nor a second spelling override the first.
func Parse(file string, raw []byte) (Definition, error) {
	var d Definition
	if err := strictjson.Decode(raw, &d); err != nil {
		return Definition{}, fmt.Errorf("%s: malformed region definition: %v", file, err)
	}
	d.File = file
	if d.RetentionYears == 0 {
		d.RetentionYears = DefaultRetentionYears
	}
	return d, d.validate()
}

func (d Definition) validate() error {
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: field %q %s", d.File, field, fmt.Sprintf(format, args...))
	}
	required := []struct{ field, value string }{
		{"region", d.Region}, {"domain", d.Domain}, {"appDomain", d.AppDomain}, {"apiDomain", d.APIDomain},
		{"hostedZoneId", d.HostedZoneID}, {"atlas.projectId", d.Atlas.ProjectID}, {"atlas.cluster", d.Atlas.Cluster},
		{"alertEmail", d.AlertEmail},
	}
	for _, r := range required {
		if strings.TrimSpace(r.value) == "" {
			return fail(r.field, "is missing: every region definition must name it")
		}
	}
	if !KnownAWSRegion(d.Region) {
		return fail("region", "is %q, which is not an AWS region (for example eu-west-1)", d.Region)
	}
	if base := strings.TrimSuffix(path.Base(d.File), ".json"); base != d.Region {
		return fail("region", "is %q but the file is named %s: name the file <region>.json", d.Region, path.Base(d.File))
	}
	for _, h := range []struct{ field, value string }{{"domain", d.Domain}, {"appDomain", d.AppDomain}, {"apiDomain", d.APIDomain}} {
		if !hostname.MatchString(h.value) {
			return fail(h.field, "is %q, which is not a lower-case DNS name", h.value)
		}
	}
	for _, h := range []struct{ field, value string }{{"appDomain", d.AppDomain}, {"apiDomain", d.APIDomain}} {
		if !strings.HasSuffix(h.value, "."+d.Domain) {
			return fail(h.field, "is %q, which is not under domain %q", h.value, d.Domain)
		}
	}
	if !zoneID.MatchString(d.HostedZoneID) {
		return fail("hostedZoneId", "is %q, which is not a Route 53 hosted zone ID (Z followed by letters and digits)", d.HostedZoneID)
	}
	if !atlasID.MatchString(d.Atlas.ProjectID) {
		return fail("atlas.projectId", "is %q, which is not an Atlas project ID (24 hex characters)", d.Atlas.ProjectID)
	}
	if !clusterName.MatchString(d.Atlas.Cluster) {
		return fail("atlas.cluster", "is %q, which is not an Atlas cluster name", d.Atlas.Cluster)
	}
	if ka := d.Atlas.KeyAccess; ka != nil {
		if !strings.HasPrefix(ka.AtlasAWSAccountARN, "arn:aws:iam::") {
			return fail("atlas.keyAccess.atlasAwsAccountArn", "is %q, which is not an IAM principal ARN", ka.AtlasAWSAccountARN)
		}
		if strings.TrimSpace(ka.ExternalID) == "" {
			return fail("atlas.keyAccess.externalId", "is missing: copy it from the project's cloud provider access role")
		}
		if !atlasID.MatchString(ka.RoleID) {
			return fail("atlas.keyAccess.roleId", "is %q, which is not an Atlas role ID (24 hex characters)", ka.RoleID)
		}
	}
	if id := d.Atlas.ReplicationSpecID; id != "" && !atlasID.MatchString(id) {
		return fail("atlas.replicationSpecId", "is %q, which is not an Atlas replication spec ID (24 hex characters, atlas clusters describe)", id)
	}
	if l := d.Load; l != nil {
		if l.APIPeakRequestsPerSecond <= 0 || l.APIPeakRequestsPerSecond > 10000 {
			return fail("load.apiPeakRequestsPerSecond", "is %v: give the peak API request rate per second, above 0 and at most 10000", l.APIPeakRequestsPerSecond)
		}
		if l.APIRequestSeconds <= 0 || l.APIRequestSeconds > 29 {
			return fail("load.apiRequestSeconds", "is %v: give the mean API request duration in seconds, above 0 and at most 29 (API Gateway's timeout)", l.APIRequestSeconds)
		}
	}
	if a, err := mail.ParseAddress(d.AlertEmail); err != nil || a.Address != d.AlertEmail {
		return fail("alertEmail", "is %q, which is not a plain e-mail address", d.AlertEmail)
	}
	if d.BackupEveryHours < 0 || d.BackupEveryHours > 24 {
		return fail("backupEveryHours", "is %d: give the hours between backups, 1 to 24 (default %d; the RPO of a failover from a backup)", d.BackupEveryHours, DefaultBackupEveryHours)
	}
	if d.RetentionYears < 1 || d.RetentionYears > 100 {
		return fail("retentionYears", "is %d: give a period of 1 to 100 years (default %d)", d.RetentionYears, DefaultRetentionYears)
	}
	if len(d.ViewerCountries) == 0 {
		return fail("viewerCountries", "is missing: list the ISO 3166-1 alpha-2 countries CloudFront may serve")
	}
	for _, c := range d.ViewerCountries {
		if !countryCode.MatchString(c) {
			return fail("viewerCountries", "has %q, which is not an upper-case ISO 3166-1 alpha-2 code", c)
		}
	}
	return nil
}

// awsRegions are the commercial AWS regions (and GovCloud) a definition may name.
var awsRegions = map[string]bool{
	"us-east-1": true, "us-east-2": true, "us-west-1": true, "us-west-2": true,
	"af-south-1": true, "ap-east-1": true, "ap-east-2": true, "ap-south-1": true, "ap-south-2": true,
	"ap-southeast-1": true, "ap-southeast-2": true, "ap-southeast-3": true, "ap-southeast-4": true,
	"ap-southeast-5": true, "ap-southeast-7": true, "ap-northeast-1": true, "ap-northeast-2": true,
	"ap-northeast-3": true, "ca-central-1": true, "ca-west-1": true, "eu-central-1": true,
	"eu-central-2": true, "eu-west-1": true, "eu-west-2": true, "eu-west-3": true, "eu-south-1": true,
	"eu-south-2": true, "eu-north-1": true, "il-central-1": true, "me-south-1": true, "me-central-1": true,
	"mx-central-1": true, "sa-east-1": true, "us-gov-east-1": true, "us-gov-west-1": true,
}

// KnownAWSRegion reports whether name is an AWS region.
func KnownAWSRegion(name string) bool { return awsRegions[name] }
