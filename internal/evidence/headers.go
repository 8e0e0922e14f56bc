package evidence

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/carohealth/platform/internal/headers"
)

// responseHeadersPolicy is the part of AWS::CloudFront::ResponseHeadersPolicy the comparison reads.
type responseHeadersPolicy struct {
	ResponseHeadersPolicyConfig struct {
		CustomHeadersConfig struct {
			Items []struct {
				Header string `json:"Header"`
				Value  string `json:"Value"`
			} `json:"Items"`
		} `json:"CustomHeadersConfig"`
		SecurityHeadersConfig struct {
			ContentSecurityPolicy *struct {
				ContentSecurityPolicy string `json:"ContentSecurityPolicy"`
			} `json:"ContentSecurityPolicy"`
			ContentTypeOptions *struct{} `json:"ContentTypeOptions"`
			FrameOptions       *struct {
				FrameOption string `json:"FrameOption"`
			} `json:"FrameOptions"`
			ReferrerPolicy *struct {
				ReferrerPolicy string `json:"ReferrerPolicy"`
			} `json:"ReferrerPolicy"`
			StrictTransportSecurity *struct {
				AccessControlMaxAgeSec int  `json:"AccessControlMaxAgeSec"`
				IncludeSubdomains      bool `json:"IncludeSubdomains"`
				Preload                bool `json:"Preload"`
			} `json:"StrictTransportSecurity"`
		} `json:"SecurityHeadersConfig"`
	} `json:"ResponseHeadersPolicyConfig"`
}

// header renders the CloudFront policy as the HTTP headers CloudFront adds.
func (p responseHeadersPolicy) header() http.Header {
	h := http.Header{}
	c := p.ResponseHeadersPolicyConfig
	s := c.SecurityHeadersConfig
	if v := s.StrictTransportSecurity; v != nil {
		h.Set("Strict-Transport-Security", headers.Policy{HSTSMaxAgeSeconds: v.AccessControlMaxAgeSec,
			HSTSIncludeSubDomains: v.IncludeSubdomains, HSTSPreload: v.Preload}.StrictTransportSecurity())
	}
	if v := s.ContentSecurityPolicy; v != nil {
		h.Set("Content-Security-Policy", v.ContentSecurityPolicy)
	}
	if v := s.FrameOptions; v != nil {
		h.Set("X-Frame-Options", v.FrameOption)
	}
	if s.ContentTypeOptions != nil {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	if v := s.ReferrerPolicy; v != nil {
		h.Set("Referrer-Policy", v.ReferrerPolicy)
	}
	for _, it := range c.CustomHeadersConfig.Items {
		h.Set(it.Header, it.Value)
	}
	return h
}

// headersPolicyEvidence compares every response-headers policy of the templates with the one
// definition (internal/headers.Security): the same header names with the same values.
func headersPolicyEvidence(asm *assembly) Evidence {
	const id = "headers-policy"
	want := headers.Security().Header()
	e := Evidence{ID: id, Time: asm.modTime, TimeSource: fromModTime}
	policies := 0
	for _, s := range asm.stacks {
		t, err := asm.template(s)
		if err != nil {
			return Evidence{ID: id, Status: Failed, Summary: "template unreadable", Problems: []string{err.Error()}}
		}
		found := false
		for _, logical := range sortedKeys(t.Resources) {
			r := t.Resources[logical]
			if r.Type != "AWS::CloudFront::ResponseHeadersPolicy" {
				continue
			}
			found = true
			policies++
			var p responseHeadersPolicy
			if err := json.Unmarshal(r.Properties, &p); err != nil {
				e.Problems = append(e.Problems, fmt.Sprintf("%s %s: unreadable policy: %v", s, logical, err))
				continue
			}
			for _, d := range headerDiff(want, p.header()) {
				e.Problems = append(e.Problems, fmt.Sprintf("%s %s: %s", s, logical, d))
			}
		}
		if found {
			e.Files = append(e.Files, asm.templates[s])
		}
	}
	e.Status = Passed
	e.Counts = []Count{{Label: "headers required", Value: len(want)}, {Label: "policies", Value: policies}, {Label: "differences", Value: len(e.Problems), Bad: true}}
	e.Summary = fmt.Sprintf("%d CloudFront response-headers policy sends exactly the %d headers of internal/headers", policies, len(want))
	switch {
	case policies == 0:
		e.Status, e.Summary = Failed, "no CloudFront response-headers policy in the templates"
		e.Files = asm.templateFiles()
		e.Problems = append(e.Problems, "no AWS::CloudFront::ResponseHeadersPolicy in any synthesized stack (constructs/edge)")
	case len(e.Problems) > 0:
		e.Status = Failed
		e.Summary = fmt.Sprintf("the deployed header policy differs from internal/headers in %d ways", len(e.Problems))
	}
	return e
}

// headerDiff lists the headers of want missing from or different in got, and got's extra ones.
func headerDiff(want, got http.Header) []string {
	var out []string
	names := map[string]bool{}
	for n := range want {
		names[n] = true
	}
	for n := range got {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		w, g := strings.Join(want.Values(n), ", "), strings.Join(got.Values(n), ", ")
		switch {
		case w == g:
		case g == "":
			out = append(out, n+" is missing")
		case w == "":
			out = append(out, n+" is sent but not in internal/headers")
		default:
			out = append(out, fmt.Sprintf("%s is %q, internal/headers says %q", n, g, w))
		}
	}
	return out
}
