package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// Walking synthesized templates, for the tests that follow references between resources.

// cfnTemplate is a synthesized template's resources by logical ID.
type cfnTemplate struct {
	Resources map[string]cfnResource `json:"Resources"`
	// Outputs are the stack's outputs by name (Value is as synthesized: a string or an intrinsic).
	Outputs map[string]struct {
		Value interface{} `json:"Value"`
	} `json:"Outputs"`
}

// cfnResource is one resource of a cfnTemplate.
type cfnResource struct {
	Type       string                 `json:"Type"`
	Properties map[string]interface{} `json:"Properties"`
	// DependsOn is one logical ID or a list of them.
	DependsOn interface{} `json:"DependsOn"`
}

// templateOf returns a stack's synthesized template.
func templateOf(t *testing.T, s awscdk.Stack) cfnTemplate {
	t.Helper()
	var tpl cfnTemplate
	if err := json.Unmarshal([]byte(toJSON(t, assertions.Template_FromStack(s, nil).ToJSON())), &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// refOf follows path (map keys and slice indexes) in a synthesized resource's properties and
// returns the logical ID the value there refers to (Ref or Fn::GetAtt), or "".
func refOf(v interface{}, path ...interface{}) string {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]interface{})
			v = m[k]
		case int:
			s, _ := v.([]interface{})
			if k >= len(s) {
				return ""
			}
			v = s[k]
		}
	}
	m, _ := v.(map[string]interface{})
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if att, ok := m["Fn::GetAtt"].([]interface{}); ok && len(att) > 0 {
		id, _ := att[0].(string)
		return id
	}
	return ""
}

// stringOf returns v as a string ("" when it is none).
func stringOf(v interface{}) string {
	s, _ := v.(string)
	return s
}

// stringsOf returns v, a policy field that is one string or a list of them, as a list.
func stringsOf(v interface{}) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	list, _ := v.([]interface{})
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// statementsOf returns the statements of the policy document in field of props.
func statementsOf(props map[string]interface{}, field string) []map[string]interface{} {
	doc, _ := props[field].(map[string]interface{})
	list, _ := doc["Statement"].([]interface{})
	var out []map[string]interface{}
	for _, e := range list {
		if st, ok := e.(map[string]interface{}); ok {
			out = append(out, st)
		}
	}
	return out
}

// allowsService reports whether st allows the AWS service principal service every one of actions.
func allowsService(st map[string]interface{}, service string, actions ...string) bool {
	principal, _ := st["Principal"].(map[string]interface{})
	if st["Effect"] != "Allow" || !slices.Contains(stringsOf(principal["Service"]), service) {
		return false
	}
	for _, a := range actions {
		if !slices.Contains(stringsOf(st["Action"]), a) {
			return false
		}
	}
	return true
}
