package main

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Tests of security-page promises that only the whole app can show (docs/security-promises.md).

// managedServices are the resource type prefixes the platform may declare: managed services only
// (row 2: "We don't host or run our own routers, load balancers, DNS servers, or physical servers").
// A new prefix here is a design decision to review, not a detail.
var managedServices = []string{
	"AWS::ApiGateway::", "AWS::CertificateManager::", "AWS::CloudFront::", "AWS::CloudWatch::",
	"AWS::Cognito::", "AWS::Events::", "AWS::IAM::", "AWS::KMS::", "AWS::Lambda::", "AWS::Logs::",
	"AWS::Route53::", "AWS::S3::", "AWS::SNS::", "AWS::SQS::", "AWS::SecretsManager::", "AWS::WAFv2::",
	"MongoDB::Atlas::", "Custom::CDKBucketDeployment",
	// Deploy-time calls to the Atlas Admin API (lambdas/atlaskeyaccess).
	"Custom::AtlasKeyRoleAuthorization", "Custom::AtlasClusterEncryption",
	// Deploy-time share of the backup key replica and the ledger key with the peer region.
	"Custom::PeerShare",
	// The backup engine's state machines (constructs/backupengine): Step Functions fanning out to
	// Lambda, serverless like the rest (issue 21).
	"AWS::StepFunctions::",
}

// unmanagedTypes returns the resource types of tpl outside managedServices, sorted.
func unmanagedTypes(tpl cfnTemplate) []string {
	seen := map[string]bool{}
	for _, r := range tpl.Resources {
		ok := false
		for _, p := range managedServices {
			ok = ok || strings.HasPrefix(r.Type, p)
		}
		if !ok {
			seen[r.Type] = true
		}
	}
	var out []string
	for typ := range seen {
		out = append(out, typ)
	}
	sort.Strings(out)
	return out
}

func TestStacksDeclareOnlyManagedServices(t *testing.T) {
	// GIVEN the whole app WHEN every stack is synthesized
	for _, s := range platformApp(t).Stacks() {
		tpl := templateOf(t, s)
		// THEN it declares no servers, load balancers, clusters or DNS servers of its own
		if bad := unmanagedTypes(tpl); len(bad) > 0 {
			t.Errorf("%s declares resources outside the managed services: %s", *s.StackName(), strings.Join(bad, ", "))
		}
		// AND no function runs in a VPC of ours
		for id, r := range tpl.Resources {
			if r.Type == "AWS::Lambda::Function" && r.Properties["VpcConfig"] != nil {
				t.Errorf("%s: function %s runs in a VPC", *s.StackName(), id)
			}
		}
	}
	// AND the check catches what it is for
	var servers cfnTemplate
	json.Unmarshal([]byte(`{"Resources": {"Web": {"Type": "AWS::EC2::Instance"}, "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer"}, "Q": {"Type": "AWS::SQS::Queue"}}}`), &servers)
	if got := strings.Join(unmanagedTypes(servers), ","); got != "AWS::EC2::Instance,AWS::ElasticLoadBalancingV2::LoadBalancer" {
		t.Errorf("unmanagedTypes = %s", got)
	}
}

// functionByDescription returns the logical ID of the one function whose description starts with prefix.
func functionByDescription(t *testing.T, tpl cfnTemplate, prefix string) string {
	t.Helper()
	var found []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Lambda::Function" && strings.HasPrefix(stringOf(r.Properties["Description"]), prefix) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d functions described %q, want 1", len(found), prefix)
	}
	return found[0]
}

func TestTrafficWatcherWatchesEveryInternalChannel(t *testing.T) {
	// GIVEN each platform stack
	for _, p := range platformApp(t).Platforms {
		tpl := templateOf(t, p.Stack)
		watcher := functionByDescription(t, tpl, "Traffic watcher")
		api := functionByDescription(t, tpl, "The platform API")
		// WHEN its topic subscriptions and log subscriptions are collected
		subscribed := map[string]bool{}
		logsWatched := map[string]bool{}
		for _, r := range tpl.Resources {
			switch r.Type {
			case "AWS::SNS::Subscription":
				if refOf(r.Properties, "Endpoint") == watcher {
					subscribed[refOf(r.Properties, "TopicArn")] = true
				}
			case "AWS::Logs::SubscriptionFilter":
				if refOf(r.Properties, "DestinationArn") == watcher {
					logsWatched[refOf(r.Properties, "LogGroupName")] = true
				}
			}
		}
		// THEN it reads every internal topic but the on-call one it writes to (the audit events and
		// the alarms, among them every dead-letter queue's depth)
		for id, r := range tpl.Resources {
			if r.Type != "AWS::SNS::Topic" {
				continue
			}
			name := stringOf(r.Properties["DisplayName"])
			if onCall := name == "Caro on-call"; onCall == subscribed[id] {
				t.Errorf("%s: topic %s (%q): watcher subscribed = %v", *p.StackName(), id, name, subscribed[id])
			}
		}
		// AND the API's access log and the API function's log (its security signal lines)
		var accessLog string
		for _, r := range tpl.Resources {
			if r.Type == "AWS::ApiGateway::Stage" {
				accessLog = refOf(r.Properties, "AccessLogSetting", "DestinationArn")
			}
		}
		apiLog := refOf(tpl.Resources[api].Properties, "LoggingConfig", "LogGroup")
		for what, group := range map[string]string{"API access log": accessLog, "API function log": apiLog} {
			if group == "" || !logsWatched[group] {
				t.Errorf("%s: the traffic watcher does not read the %s (%q)", *p.StackName(), what, group)
			}
		}
	}
}

func TestOnlyTheAPIPublishesAuditEventsInTheRegion(t *testing.T) {
	// GIVEN each platform stack
	for _, p := range platformApp(t).Platforms {
		tpl := templateOf(t, p.Stack)
		var audit string
		for id, r := range tpl.Resources {
			if r.Type == "AWS::SNS::Topic" && stringOf(r.Properties["DisplayName"]) == "Caro audit events" {
				audit = id
			}
		}
		if audit == "" {
			t.Fatalf("%s: no audit topic", *p.StackName())
		}
		// WHEN every identity policy of the stack that may publish to it is collected
		var publishers []string
		for _, r := range tpl.Resources {
			if r.Type != "AWS::IAM::Policy" && r.Type != "AWS::IAM::ManagedPolicy" {
				continue
			}
			roles, _ := r.Properties["Roles"].([]interface{})
			for _, st := range statementsOf(r.Properties, "PolicyDocument") {
				actions := stringsOf(st["Action"])
				publish := slices.Contains(actions, "sns:Publish") || slices.Contains(actions, "sns:*") || slices.Contains(actions, "*")
				if st["Effect"] != "Allow" || !publish {
					continue
				}
				resources, ok := st["Resource"].([]interface{})
				if !ok {
					resources = []interface{}{st["Resource"]}
				}
				for _, res := range resources {
					if refOf(res) == audit || res == "*" {
						for _, role := range roles {
							publishers = append(publishers, refOf(role)+" on "+toJSON(t, res))
						}
					}
				}
			}
		}
		sort.Strings(publishers)
		// THEN they are the API function's role on that topic, its outbox reconciler's (the same code,
		// publishing what the API left pending), and Cognito's SMS role, which needs sns:Publish on
		// "*" to send text messages (only cognito-idp.amazonaws.com may assume it)
		got := strings.Join(publishers, "; ")
		if len(publishers) != 3 || !strings.HasPrefix(publishers[0], "ApiHandlerRole") || !strings.HasPrefix(publishers[1], "AuditOutboxRole") ||
			!strings.HasPrefix(publishers[2], "IdentitySmsRole") {
			t.Errorf("%s: audit topic publishers = %s", *p.StackName(), got)
		}
	}
}
