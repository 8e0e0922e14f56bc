package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
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
		var desc string
		json.Unmarshal(r.Properties["Description"], &desc)
		if r.Type == "AWS::Lambda::Function" && strings.HasPrefix(desc, prefix) {
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
				if refID(r.Properties["Endpoint"]) == watcher {
					subscribed[refID(r.Properties["TopicArn"])] = true
				}
			case "AWS::Logs::SubscriptionFilter":
				if refID(r.Properties["DestinationArn"]) == watcher {
					logsWatched[refID(r.Properties["LogGroupName"])] = true
				}
			}
		}
		// THEN it reads every internal topic but the on-call one it writes to (the audit events and
		// the alarms, among them every dead-letter queue's depth)
		for id, r := range tpl.Resources {
			if r.Type != "AWS::SNS::Topic" {
				continue
			}
			var name string
			json.Unmarshal(r.Properties["DisplayName"], &name)
			if onCall := name == "Caro on-call"; onCall == subscribed[id] {
				t.Errorf("%s: topic %s (%q): watcher subscribed = %v", *p.StackName(), id, name, subscribed[id])
			}
		}
		// AND the API's access log and the API function's log (its security signal lines)
		var accessLog string
		for _, r := range tpl.Resources {
			if r.Type == "AWS::ApiGateway::Stage" {
				var setting struct{ DestinationArn json.RawMessage }
				json.Unmarshal(r.Properties["AccessLogSetting"], &setting)
				accessLog = refID(setting.DestinationArn)
			}
		}
		var logging struct{ LogGroup json.RawMessage }
		json.Unmarshal(tpl.Resources[api].Properties["LoggingConfig"], &logging)
		for what, group := range map[string]string{"API access log": accessLog, "API function log": refID(logging.LogGroup)} {
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
			var name string
			json.Unmarshal(r.Properties["DisplayName"], &name)
			if r.Type == "AWS::SNS::Topic" && name == "Caro audit events" {
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
			var doc struct {
				Statement []struct {
					Effect   string
					Action   json.RawMessage
					Resource json.RawMessage
				}
			}
			json.Unmarshal(r.Properties["PolicyDocument"], &doc)
			var roles []json.RawMessage
			json.Unmarshal(r.Properties["Roles"], &roles)
			for _, st := range doc.Statement {
				publish := containsString(st.Action, "sns:Publish") || containsString(st.Action, "sns:*") || containsString(st.Action, "*")
				if st.Effect != "Allow" || !publish {
					continue
				}
				var resources []json.RawMessage
				if json.Unmarshal(st.Resource, &resources) != nil {
					resources = []json.RawMessage{st.Resource}
				}
				for _, res := range resources {
					if refID(res) == audit || string(res) == `"*"` {
						for _, role := range roles {
							publishers = append(publishers, refID(role)+" on "+string(res))
						}
					}
				}
			}
		}
		sort.Strings(publishers)
		// THEN they are the API function's role on that topic, and Cognito's SMS role, which needs
		// sns:Publish on "*" to send text messages (only cognito-idp.amazonaws.com may assume it)
		got := strings.Join(publishers, "; ")
		if !strings.HasPrefix(got, "ApiHandlerRole") || len(publishers) != 2 || !strings.HasPrefix(publishers[1], "IdentitySmsRole") {
			t.Errorf("%s: audit topic publishers = %s", *p.StackName(), got)
		}
	}
}
