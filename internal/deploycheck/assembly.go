package deploycheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Assembly is what the synthesized cloud assembly (cdk.out) says the deploy will ask of the
// account: per stack its region, the bootstrap version it needs, what its functions reserve, the
// third-party resource types it declares and whether it creates the GitLab OIDC provider.
type Assembly struct {
	Stacks []Stack
}

// Stack is one synthesized stack.
type Stack struct {
	Name   string
	Region string
	// BootstrapVersion is the least CDK bootstrap version the stack needs, read from the SSM
	// parameter BootstrapParameter of its region.
	BootstrapVersion   int
	BootstrapParameter string
	// ReservedConcurrency is the sum of its functions' reserved concurrent executions.
	ReservedConcurrency int
	// ExtensionTypes are the third-party resource types it declares (MongoDB::Atlas::...), each
	// of which must be activated in its region.
	ExtensionTypes []string
	// OIDCProviders are the logical IDs of the IAM OIDC providers it creates.
	OIDCProviders []string
}

// ReadAssembly reads the cloud assembly in dir (manifest.json and the stack templates).
func ReadAssembly(dir string) (Assembly, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Assembly{}, fmt.Errorf("no cloud assembly in %s: synthesize first (make synth), or pass --cdk-out", dir)
	}
	if err != nil {
		return Assembly{}, fmt.Errorf("reading the cloud assembly: %w", err)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type        string `json:"type"`
			Environment string `json:"environment"`
			Properties  struct {
				TemplateFile                      string `json:"templateFile"`
				RequiresBootstrapStackVersion     int    `json:"requiresBootstrapStackVersion"`
				BootstrapStackVersionSsmParameter string `json:"bootstrapStackVersionSsmParameter"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return Assembly{}, fmt.Errorf("%s: malformed manifest: %w: synthesize again (make synth)", filepath.Join(dir, "manifest.json"), err)
	}
	var a Assembly
	for name, art := range manifest.Artifacts {
		if art.Type != "aws:cloudformation:stack" {
			continue
		}
		s := Stack{Name: name, BootstrapVersion: art.Properties.RequiresBootstrapStackVersion, BootstrapParameter: art.Properties.BootstrapStackVersionSsmParameter}
		if i := strings.LastIndex(art.Environment, "/"); i >= 0 {
			s.Region = art.Environment[i+1:]
		}
		if err := s.readTemplate(filepath.Join(dir, art.Properties.TemplateFile)); err != nil {
			return Assembly{}, err
		}
		a.Stacks = append(a.Stacks, s)
	}
	if len(a.Stacks) == 0 {
		return Assembly{}, fmt.Errorf("%s holds no stacks: synthesize the app (make synth)", dir)
	}
	sort.Slice(a.Stacks, func(i, j int) bool { return a.Stacks[i].Name < a.Stacks[j].Name })
	return a, nil
}

func (s *Stack) readTemplate(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the template of %s: %w", s.Name, err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		return fmt.Errorf("%s: malformed template: %w", path, err)
	}
	types := map[string]bool{}
	for id, r := range tpl.Resources {
		switch {
		case r.Type == "AWS::Lambda::Function":
			if n, ok := r.Properties["ReservedConcurrentExecutions"].(float64); ok {
				s.ReservedConcurrency += int(n)
			}
		case r.Type == "AWS::IAM::OIDCProvider":
			s.OIDCProviders = append(s.OIDCProviders, id)
		case !strings.HasPrefix(r.Type, "AWS::") && !strings.HasPrefix(r.Type, "Custom::"):
			types[r.Type] = true
		}
	}
	for t := range types {
		s.ExtensionTypes = append(s.ExtensionTypes, t)
	}
	sort.Strings(s.ExtensionTypes)
	sort.Strings(s.OIDCProviders)
	return nil
}
