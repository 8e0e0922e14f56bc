package evidence

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed catalogue.yaml
var catalogueYAML []byte

// Framework is a standard or regulation whose controls the catalogue maps.
type Framework struct {
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	Short string `yaml:"short"`
}

// Definition describes one piece of evidence: what it shows, which run produces it, how old it may be.
type Definition struct {
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Source      Source `yaml:"source"`
	ProducedBy  string `yaml:"produced_by"`
	MaxAgeDays  int    `yaml:"max_age_days"`
	Optional    bool   `yaml:"optional"`
	Description string `yaml:"description"`
}

// Mapping links a control to one piece of evidence, with the one sentence that says why it supports it.
type Mapping struct {
	Ref string `yaml:"ref"`
	Why string `yaml:"why"`
}

// Control is one control of one framework.
type Control struct {
	Framework string    `yaml:"framework"`
	ID        string    `yaml:"id"`
	Title     string    `yaml:"title"`
	Evidence  []Mapping `yaml:"evidence"`
	// Via is the ISO/IEC 27001 Annex A control of the same ISO/IEC 27002 number (NEN 7510): its
	// evidence applies here too.
	Via string `yaml:"via"`
	// Healthcare names the healthcare-specific addition (NEN 7510) the evidence covers.
	Healthcare string `yaml:"healthcare"`
	// Human is the process that evidences what this toolkit cannot.
	Human string `yaml:"human"`
}

// Catalogue is the control catalogue (catalogue.yaml).
type Catalogue struct {
	Version    int                 `yaml:"version"`
	Frameworks []Framework         `yaml:"frameworks"`
	Evidence   []Definition        `yaml:"evidence"`
	NagRules   map[string][]string `yaml:"nag_rules"`
	Controls   []Control           `yaml:"controls"`
}

// DefaultCatalogue parses the catalogue kept in this package (catalogue.yaml) and validates it.
func DefaultCatalogue() (*Catalogue, error) { return ParseCatalogue(catalogueYAML) }

// CatalogueSource returns the catalogue file as kept in the repository (its hash goes into the report).
func CatalogueSource() []byte { return catalogueYAML }

// ParseCatalogue parses and validates a catalogue.
func ParseCatalogue(b []byte) (*Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("control catalogue: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Definition returns the evidence definition with that ID.
func (c *Catalogue) Definition(id string) (Definition, bool) {
	for _, d := range c.Evidence {
		if d.ID == id {
			return d, true
		}
	}
	return Definition{}, false
}

// Framework returns the framework with that ID.
func (c *Catalogue) Framework(id string) (Framework, bool) {
	for _, f := range c.Frameworks {
		if f.ID == id {
			return f, true
		}
	}
	return Framework{}, false
}

// Control returns the control of framework fw with that ID.
func (c *Catalogue) Control(fw, id string) (Control, bool) {
	for _, k := range c.Controls {
		if k.Framework == fw && k.ID == id {
			return k, true
		}
	}
	return Control{}, false
}

// MappingsOf returns every mapping of a control: its own and, through Via, the ISO control's.
func (c *Catalogue) MappingsOf(k Control) []Mapping {
	out := append([]Mapping(nil), k.Evidence...)
	if k.Via != "" {
		if iso, ok := c.Control("iso27001", k.Via); ok {
			out = append(iso.Evidence, out...)
		}
	}
	return out
}

// Validate checks every ID (valid for its framework, unique), every mapping (names evidence that
// exists, has a reason) and that every control is either evidenced or names its human process.
func (c *Catalogue) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	fws := map[string]bool{}
	for _, f := range c.Frameworks {
		if fws[f.ID] {
			bad("framework %q is listed twice", f.ID)
		}
		fws[f.ID] = true
	}
	defs := map[string]bool{}
	for _, d := range c.Evidence {
		switch {
		case defs[d.ID]:
			bad("evidence %q is defined twice", d.ID)
		case !knownSources[d.Source]:
			bad("evidence %q: unknown source %q", d.ID, d.Source)
		case d.MaxAgeDays <= 0:
			bad("evidence %q: max_age_days must be positive", d.ID)
		case d.Title == "" || d.Description == "" || d.ProducedBy == "":
			bad("evidence %q: title, description and produced_by are required", d.ID)
		}
		defs[d.ID] = true
	}
	seenRule := map[string]string{}
	for ev, rules := range c.NagRules {
		if !defs[ev] {
			bad("nag_rules names evidence %q that is not defined", ev)
		}
		for _, r := range rules {
			if prev, dup := seenRule[r]; dup {
				bad("nag rule %s is listed under both %s and %s", r, prev, ev)
			}
			seenRule[r] = ev
		}
	}
	ids := map[string]bool{}
	oscalIDs := map[string]string{}
	for _, k := range c.Controls {
		key := k.Framework + " " + k.ID
		if !fws[k.Framework] {
			bad("control %s: unknown framework %q", k.ID, k.Framework)
			continue
		}
		if err := ValidControlID(k.Framework, k.ID); err != nil {
			bad("control %s: %v", key, err)
		}
		if ids[key] {
			bad("control %s is listed twice", key)
		}
		ids[key] = true
		if prev, dup := oscalIDs[k.OSCALID()]; dup {
			bad("controls %s and %s have the same OSCAL ID %s", prev, key, k.OSCALID())
		}
		oscalIDs[k.OSCALID()] = key
		if k.Title == "" {
			bad("control %s has no title", key)
		}
		if k.Via != "" {
			if k.Framework != "nen7510" {
				bad("control %s: via is for NEN 7510 controls only", key)
			} else if iso, ok := c.Control("iso27001", k.Via); !ok {
				bad("control %s: via %s is not an ISO 27001 control of the catalogue", key, k.Via)
			} else if strings.TrimPrefix(iso.ID, "A.") != k.ID {
				bad("control %s: via %s has another ISO/IEC 27002 number", key, k.Via)
			}
		}
		for _, m := range k.Evidence {
			if !defs[m.Ref] {
				bad("control %s maps evidence %q that is not defined", key, m.Ref)
			}
			if strings.TrimSpace(m.Why) == "" {
				bad("control %s: the mapping to %s says no why", key, m.Ref)
			}
		}
		if len(c.MappingsOf(k)) == 0 && strings.TrimSpace(k.Human) == "" {
			bad("control %s has no evidence and names no human process", key)
		}
	}
	return errors.Join(errs...)
}

var (
	isoIDRE   = regexp.MustCompile(`^A\.([5-8])\.([0-9]{1,2})$`)
	nenIDRE   = regexp.MustCompile(`^([5-8])\.([0-9]{1,2})$`)
	gdprIDRE  = regexp.MustCompile(`^Art\. ([0-9]{1,2})$`)
	oscalIDRE = regexp.MustCompile(`[^a-z0-9.]+`)
)

// annexAControls is how many controls each clause of ISO/IEC 27001:2022 Annex A (= ISO/IEC
// 27002:2022) has: 37 organizational, 8 people, 14 physical, 34 technological (93 in all).
var annexAControls = map[string]int{"5": 37, "6": 8, "7": 14, "8": 34}

// hipaaIDs are the HIPAA Security Rule paragraphs the catalogue may name: 164.308(a)(7) contingency
// planning and 164.312 technical safeguards.
var hipaaIDs = map[string]bool{
	"164.308(a)(7)(i)": true, "164.308(a)(7)(ii)(A)": true, "164.308(a)(7)(ii)(B)": true,
	"164.308(a)(7)(ii)(C)": true, "164.308(a)(7)(ii)(D)": true, "164.308(a)(7)(ii)(E)": true,
	"164.312(a)(1)": true, "164.312(a)(2)(i)": true, "164.312(a)(2)(ii)": true, "164.312(a)(2)(iii)": true,
	"164.312(a)(2)(iv)": true, "164.312(b)": true, "164.312(c)(1)": true, "164.312(c)(2)": true,
	"164.312(d)": true, "164.312(e)(1)": true, "164.312(e)(2)(i)": true, "164.312(e)(2)(ii)": true,
}

// ValidControlID reports whether id is a control of the framework: an ISO/IEC 27001:2022 Annex A
// control (A.5.1-A.5.37, A.6.1-A.6.8, A.7.1-A.7.14, A.8.1-A.8.34), a NEN 7510-2 control with the
// same ISO/IEC 27002 number, a HIPAA paragraph of 164.308(a)(7) or 164.312, or a GDPR article (1-99).
func ValidControlID(framework, id string) error {
	inClause := func(m []string) error {
		n, _ := strconv.Atoi(m[2])
		if max := annexAControls[m[1]]; n < 1 || n > max {
			return fmt.Errorf("%q is not a control: clause %s has controls %s.1 to %s.%d", id, m[1], m[1], m[1], max)
		}
		return nil
	}
	switch framework {
	case "iso27001":
		if m := isoIDRE.FindStringSubmatch(id); m != nil {
			return inClause(m)
		}
		return fmt.Errorf("%q is not an Annex A control ID (like A.8.13)", id)
	case "nen7510":
		if m := nenIDRE.FindStringSubmatch(id); m != nil {
			return inClause(m)
		}
		return fmt.Errorf("%q is not an ISO/IEC 27002:2022 control number (like 8.13)", id)
	case "hipaa":
		if hipaaIDs[id] {
			return nil
		}
		return fmt.Errorf("%q is not a paragraph of 45 CFR 164.308(a)(7) or 164.312", id)
	case "gdpr":
		if m := gdprIDRE.FindStringSubmatch(id); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= 99 {
				return nil
			}
		}
		return fmt.Errorf("%q is not a GDPR article (Art. 1 to Art. 99)", id)
	}
	return fmt.Errorf("unknown framework %q", framework)
}

// OSCALID is the control's ID as an OSCAL token: the framework, a '-', then the ID lowercased with
// every run of other characters than letters, digits and dots made one '-': iso27001-a.8.13,
// nen7510-8.13, hipaa-164.312-a-2-iv, gdpr-art-32.
func (k Control) OSCALID() string {
	id := strings.ToLower(strings.ReplaceAll(k.ID, ". ", "-"))
	id = strings.Trim(oscalIDRE.ReplaceAllString(id, "-"), "-")
	return k.Framework + "-" + id
}
