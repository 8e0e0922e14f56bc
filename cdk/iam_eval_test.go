package main

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A small IAM evaluator over synthesized templates, for the permission-path tests: it resolves the
// CloudFormation expressions a policy holds into ARNs, and says whether a policy allows one request
// (principal, action, resource and request context), the way IAM reads the statements: Allow
// statements whose action, resource, principal and every condition match, unless a Deny does.
// Keys are named by key ARNs built from their logical IDs (arn:aws:kms:<region>:<account>:key/<ID>)
// and carry the aliases the templates give them, so a key/* grant narrowed by kms:ResourceAliases
// is evaluated, and an alias ARN in a policy's Resource matches no key, as in IAM.

// testAccount is the account platformApp synthesizes for.
const testAccount = "123456789012"

// testStackUUID is the evaluator's ID part of every stack's ARN (AWS::StackId).
const testStackUUID = "0a1b2c3d-0000-4000-8000-000000000000"

// stackView is one synthesized stack for the evaluator: its template, region and the names the
// resources of every stack of the app resolve to.
type stackView struct {
	name, region string
	tpl          cfnTemplate
	app          *appView
}

// appView is every stack of the app, for paths that cross stacks (replication, OAC to a replica).
type appView struct {
	stacks []*stackView
	// keyAliases are the aliases of each key ARN (from AWS::KMS::Alias resources).
	keyAliases map[string][]string
}

// newAppView builds the evaluator's view of the whole app.
func newAppView(t *testing.T) *appView {
	t.Helper()
	av := &appView{keyAliases: map[string][]string{}}
	for _, s := range platformApp(t).Stacks() {
		av.stacks = append(av.stacks, &stackView{name: *s.StackName(), region: *s.Region(), tpl: templateOf(t, s), app: av})
	}
	for _, sv := range av.stacks {
		for _, r := range sv.tpl.Resources {
			if r.Type == "AWS::KMS::Alias" {
				key := sv.resolve(r.Properties["TargetKeyId"])
				if id := refOf(r.Properties["TargetKeyId"]); id != "" {
					key = sv.keyArn(id)
				}
				av.keyAliases[key] = append(av.keyAliases[key], stringOf(r.Properties["AliasName"]))
			}
		}
	}
	return av
}

// stack returns the view of the named stack.
func (av *appView) stack(t *testing.T, name string) *stackView {
	t.Helper()
	for _, s := range av.stacks {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no stack %s", name)
	return nil
}

// bucketNamed finds the bucket whose name is name in any stack.
func (av *appView) bucketNamed(name string) (*stackView, string) {
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type == "AWS::S3::Bucket" && s.bucketName(id) == name {
				return s, id
			}
		}
	}
	return nil, ""
}

// keyByArn finds the key (in any stack) an ARN or alias ARN names.
func (av *appView) keyByArn(arn string) (*stackView, string) {
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::KMS::Key" {
				continue
			}
			k := s.keyArn(id)
			if k == arn {
				return s, id
			}
			for _, a := range av.keyAliases[k] {
				if arn == fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.region, testAccount, a) {
					return s, id
				}
			}
		}
	}
	return nil, ""
}

// keyArn is the evaluator's ARN of the key with logical ID id in s.
func (s *stackView) keyArn(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, testAccount, s.keyID(id))
}

// keyID is the evaluator's key ID of the key with logical ID id: the ID itself, with "mrk-" before
// it for a multi-Region key, as KMS names those (so key/mrk-* patterns meet them).
func (s *stackView) keyID(id string) string {
	if r, ok := s.tpl.Resources[id]; ok && r.Properties["MultiRegion"] == true {
		return "mrk-" + id
	}
	return id
}

// bucketName is the name of the bucket with logical ID id: its BucketName, else the logical ID.
func (s *stackView) bucketName(id string) string {
	if n := s.resolve(s.tpl.Resources[id].Properties["BucketName"]); n != "" {
		return n
	}
	return strings.ToLower(s.name + "-" + id)
}

// resolve turns a CloudFormation value into a string: pseudo parameters, Ref and Fn::GetAtt of
// this stack's resources (ARNs of keys, buckets, roles, topics, queues, functions, log groups),
// Fn::Join and Fn::Select/Fn::Split. What it cannot resolve becomes "${...}", which matches nothing.
func (s *stackView) resolve(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]interface{}:
		if ref, ok := x["Ref"].(string); ok {
			return s.ref(ref)
		}
		if att, ok := x["Fn::GetAtt"].([]interface{}); ok && len(att) == 2 {
			return s.getAtt(stringOf(att[0]), stringOf(att[1]))
		}
		if j, ok := x["Fn::Join"].([]interface{}); ok && len(j) == 2 {
			var parts []string
			list, _ := j[1].([]interface{})
			for _, p := range list {
				parts = append(parts, s.resolve(p))
			}
			return strings.Join(parts, stringOf(j[0]))
		}
		if sel, ok := x["Fn::Select"].([]interface{}); ok && len(sel) == 2 {
			i, _ := strconv.Atoi(s.resolve(sel[0]))
			var items []string
			if split, ok := sel[1].(map[string]interface{})["Fn::Split"].([]interface{}); ok && len(split) == 2 {
				items = strings.Split(s.resolve(split[1]), stringOf(split[0]))
			}
			if i < len(items) {
				return items[i]
			}
		}
	}
	return fmt.Sprintf("${%v}", v)
}

func (s *stackView) ref(id string) string {
	switch id {
	case "AWS::AccountId":
		return testAccount
	case "AWS::Partition":
		return "aws"
	case "AWS::Region":
		return s.region
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::StackId":
		return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", s.region, testAccount, s.name, testStackUUID)
	}
	r, ok := s.tpl.Resources[id]
	if !ok {
		return "${" + id + "}"
	}
	switch r.Type {
	case "AWS::KMS::Key":
		return "key/" + s.keyID(id) // Ref is the key ID
	case "AWS::S3::Bucket":
		return s.bucketName(id)
	case "AWS::SNS::Topic", "AWS::SecretsManager::Secret":
		return s.getAtt(id, "Arn")
	case "AWS::IAM::Role", "AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::CloudFront::Distribution":
		return id
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", s.region, testAccount, id)
	case "AWS::StepFunctions::StateMachine": // Ref is the ARN; the name is generated unless given
		name := s.resolve(r.Properties["StateMachineName"])
		if name == "" || strings.HasPrefix(name, "${") {
			name = id
		}
		return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.region, testAccount, name)
	}
	return "${" + id + "}"
}

func (s *stackView) getAtt(id, attr string) string {
	r, ok := s.tpl.Resources[id]
	if !ok {
		return "${" + id + "." + attr + "}"
	}
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, s.region, testAccount, resource)
	}
	switch {
	case r.Type == "AWS::KMS::Key" && attr == "Arn":
		return s.keyArn(id)
	case r.Type == "AWS::KMS::Key" && attr == "KeyId":
		return s.keyID(id)
	case r.Type == "AWS::S3::Bucket" && attr == "RegionalDomainName":
		return s.bucketName(id) + ".s3." + s.region + ".amazonaws.com"
	case r.Type == "AWS::S3::Bucket" && attr == "Arn":
		return "arn:aws:s3:::" + s.bucketName(id)
	case r.Type == "AWS::IAM::Role" && attr == "Arn":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", testAccount, id)
	case r.Type == "AWS::SNS::Topic" && attr == "TopicArn", r.Type == "AWS::SNS::Topic" && attr == "Arn":
		return arn("sns", id)
	case r.Type == "AWS::SQS::Queue" && attr == "Arn":
		return arn("sqs", id)
	case r.Type == "AWS::Lambda::Function" && attr == "Arn":
		return arn("lambda", "function:"+id)
	case r.Type == "AWS::Logs::LogGroup" && attr == "Arn":
		return arn("logs", "log-group:"+s.logGroupName(id)+":*")
	case r.Type == "AWS::Events::Rule" && attr == "Arn":
		return arn("events", "rule/"+id)
	case r.Type == "AWS::SecretsManager::Secret" && attr == "Arn", r.Type == "AWS::SecretsManager::Secret" && attr == "Id":
		return arn("secretsmanager", "secret:"+s.resolve(r.Properties["Name"])+"-AbCdEf")
	case r.Type == "AWS::CloudFront::Distribution" && attr == "Id":
		return id
	case r.Type == "AWS::Cognito::UserPool" && attr == "Arn":
		return arn("cognito-idp", "userpool/"+id)
	case r.Type == "AWS::Route53::HealthCheck" && attr == "HealthCheckId":
		return id
	}
	return "${" + id + "." + attr + "}"
}

// logGroupName is a log group's LogGroupName, else its logical ID.
func (s *stackView) logGroupName(id string) string {
	if n := s.resolve(s.tpl.Resources[id].Properties["LogGroupName"]); n != "" {
		return n
	}
	return id
}

// request is one call IAM authorizes: who makes it, the action, the resource and the request
// context (condition keys and their values).
type request struct {
	principal string // a role ARN or a service principal (logs.eu-west-1.amazonaws.com)
	action    string
	resource  string
	context   map[string][]string
}

// policyStatement is a statement and the stack it was written in (to resolve its expressions).
type policyStatement struct {
	stack *stackView
	st    map[string]interface{}
	from  string // the policy's logical ID
}

// identityStatements are the statements of every policy attached to role (logical ID) in s: the
// role's inline policies, AWS::IAM::Policy and ManagedPolicy resources naming it, and managed
// policies of the stack among its ManagedPolicyArns.
func (s *stackView) identityStatements(role string) []policyStatement {
	var out []policyStatement
	r := s.tpl.Resources[role]
	inline, _ := r.Properties["Policies"].([]interface{})
	for _, p := range inline {
		pm, _ := p.(map[string]interface{})
		for _, st := range statementsOf(pm, "PolicyDocument") {
			out = append(out, policyStatement{s, st, role})
		}
	}
	attached := map[string]bool{}
	arns, _ := r.Properties["ManagedPolicyArns"].([]interface{})
	for _, a := range arns {
		attached[refOf(a)] = true
	}
	for id, p := range s.tpl.Resources {
		if p.Type != "AWS::IAM::Policy" && p.Type != "AWS::IAM::ManagedPolicy" {
			continue
		}
		roles, _ := p.Properties["Roles"].([]interface{})
		names := attached[id]
		for _, x := range roles {
			names = names || refOf(x) == role
		}
		if names {
			for _, st := range statementsOf(p.Properties, "PolicyDocument") {
				out = append(out, policyStatement{s, st, id})
			}
		}
	}
	return out
}

// decision evaluates statements for req: "allow" when an Allow matches and no Deny does,
// "deny" when a Deny matches, "" when nothing matches (implicit deny). resourcePolicy makes the
// Principal element count.
func decision(statements []policyStatement, req request, resourcePolicy bool) string {
	allowed := false
	for _, ps := range statements {
		if !ps.matches(req, resourcePolicy) {
			continue
		}
		if ps.st["Effect"] == "Deny" {
			return "deny"
		}
		allowed = true
	}
	if allowed {
		return "allow"
	}
	return ""
}

// allows is decision(...) == "allow".
func allows(statements []policyStatement, req request, resourcePolicy bool) bool {
	return decision(statements, req, resourcePolicy) == "allow"
}

func (ps policyStatement) matches(req request, resourcePolicy bool) bool {
	_, hasResource := ps.st["Resource"]
	_, hasNotResource := ps.st["NotResource"]
	// A trust policy names no resource: the role it belongs to is the resource.
	trust := !hasResource && !hasNotResource
	if !ps.anyMatch("Action", "NotAction", req.action, true) || !trust && !ps.anyMatch("Resource", "NotResource", req.resource, false) {
		return false
	}
	if resourcePolicy && !ps.principalMatches(req.principal) {
		return false
	}
	return ps.conditionsMatch(req.context)
}

// anyMatch reports whether value matches field (or not NotField), IAM globbing (actions ignore case).
func (ps policyStatement) anyMatch(field, notField, value string, fold bool) bool {
	glob := func(pattern string) bool {
		if fold {
			pattern, value = strings.ToLower(pattern), strings.ToLower(value)
		}
		return iamGlob(pattern, value)
	}
	if v, ok := ps.st[field]; ok {
		for _, p := range ps.values(v) {
			if glob(p) {
				return true
			}
		}
		return false
	}
	if v, ok := ps.st[notField]; ok {
		for _, p := range ps.values(v) {
			if glob(p) {
				return false
			}
		}
		return true
	}
	return false
}

// values resolves a policy field that is one value or a list.
func (ps policyStatement) values(v interface{}) []string {
	list, ok := v.([]interface{})
	if !ok {
		list = []interface{}{v}
	}
	var out []string
	for _, x := range list {
		out = append(out, ps.stack.resolve(x))
	}
	return out
}

func (ps policyStatement) principalMatches(principal string) bool {
	p := ps.st["Principal"]
	if p == "*" {
		return true
	}
	pm, _ := p.(map[string]interface{})
	for _, s := range ps.values(pm["Service"]) {
		if s == principal {
			return true
		}
	}
	for _, a := range ps.values(pm["AWS"]) {
		// The account root delegates to the account's IAM policies (evaluated separately).
		if a == principal || a == "*" || a == "arn:aws:iam::"+testAccount+":root" && strings.HasPrefix(principal, "arn:aws:iam::"+testAccount+":") {
			return true
		}
	}
	return false
}

// conditionsMatch evaluates the operators the platform's policies use.
func (ps policyStatement) conditionsMatch(ctx map[string][]string) bool {
	conds, _ := ps.st["Condition"].(map[string]interface{})
	for op, block := range conds {
		keys, _ := block.(map[string]interface{})
		for key, want := range keys {
			if !conditionMatches(op, ctx[key], ps.values(want)) {
				return false
			}
		}
	}
	return true
}

func conditionMatches(op string, have, want []string) bool {
	set := strings.HasPrefix(op, "ForAnyValue:") || strings.HasPrefix(op, "ForAllValues:")
	base := strings.TrimPrefix(strings.TrimPrefix(op, "ForAnyValue:"), "ForAllValues:")
	ifExists := strings.HasSuffix(base, "IfExists")
	base = strings.TrimSuffix(base, "IfExists")
	if len(have) == 0 {
		return ifExists || strings.HasPrefix(op, "ForAllValues:")
	}
	one := func(h string) bool {
		for _, w := range want {
			switch base {
			case "StringEquals", "ArnEquals", "Bool":
				if h == w {
					return true
				}
			case "StringLike", "ArnLike":
				if iamGlob(w, h) {
					return true
				}
			case "StringNotEquals":
				return !slices.Contains(want, h)
			case "NumericLessThan":
				a, _ := strconv.ParseFloat(h, 64)
				b, _ := strconv.ParseFloat(w, 64)
				return a < b
			}
		}
		return false
	}
	if strings.HasPrefix(op, "ForAllValues:") {
		for _, h := range have {
			if !one(h) {
				return false
			}
		}
		return true
	}
	if set || len(have) == 1 {
		for _, h := range have {
			if one(h) {
				return true
			}
		}
	}
	return false
}

// iamGlob matches IAM's * and ? wildcards (no other pattern characters).
func iamGlob(pattern, value string) bool {
	escaped := strings.NewReplacer("[", `\[`, "]", `\]`, `\`, `\\`).Replace(pattern)
	ok, err := path.Match(strings.ReplaceAll(escaped, "/", "\x00"), strings.ReplaceAll(value, "/", "\x00"))
	return err == nil && ok
}

func TestEvaluatorReadsPoliciesAsIAMDoes(t *testing.T) {
	sv := &stackView{region: "eu-west-1", tpl: cfnTemplate{Resources: map[string]cfnResource{
		"K": {Type: "AWS::KMS::Key"},
	}}}
	st := func(s string) policyStatement {
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return policyStatement{stack: sv, st: m}
	}
	encrypt := request{action: "kms:Encrypt", resource: sv.keyArn("K"), context: map[string][]string{
		"kms:ResourceAliases": {"alias/caro/replica"}, "kms:ViaService": {"s3.eu-west-1.amazonaws.com"},
	}}
	for name, c := range map[string]struct {
		statement string
		want      bool
	}{
		"an alias ARN covers the alias, not the key": {`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:eu-west-1:123456789012:alias/caro/replica"}`, false},
		"the key's own ARN":                          {`{"Effect":"Allow","Action":["kms:Encrypt"],"Resource":{"Fn::GetAtt":["K","Arn"]}}`, true},
		"key/* narrowed by the key's alias":          {`{"Effect":"Allow","Action":"kms:Encrypt*","Resource":"arn:aws:kms:eu-west-1:123456789012:key/*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/caro/replica"}}}`, true},
		"key/* narrowed by another alias":            {`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:eu-west-1:123456789012:key/*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/other"}}}`, false},
		"another action":                             {`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`, false},
		"another region's endpoint":                  {`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.eu-central-1.amazonaws.com"}}}`, false},
	} {
		if got := allows([]policyStatement{st(c.statement)}, encrypt, false); got != c.want {
			t.Errorf("%s: allows = %v, want %v", name, got, c.want)
		}
	}
	// A Deny wins over an Allow.
	if allows([]policyStatement{st(`{"Effect":"Allow","Action":"*","Resource":"*"}`), st(`{"Effect":"Deny","Action":"kms:*","Resource":"*"}`)}, encrypt, false) {
		t.Error("a Deny did not win")
	}
}
