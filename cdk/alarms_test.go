package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// cfnTemplate is the part of a synthesized template these checks walk.
type cfnTemplate struct {
	Resources map[string]struct {
		Type       string                     `json:"Type"`
		Properties map[string]json.RawMessage `json:"Properties"`
	} `json:"Resources"`
}

// policyStatement is one statement of a topic or key policy.
type policyStatement struct {
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    json.RawMessage `json:"Action"`
}

func (s policyStatement) allows(service string, actions ...string) bool {
	var principal struct{ Service json.RawMessage }
	if s.Effect != "Allow" || json.Unmarshal(s.Principal, &principal) != nil || !containsString(principal.Service, service) {
		return false
	}
	for _, a := range actions {
		if !containsString(s.Action, a) {
			return false
		}
	}
	return true
}

// containsString reports whether raw (a JSON string or array of strings) holds want.
func containsString(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, s := range many {
			if s == want {
				return true
			}
		}
	}
	return false
}

// refID returns the logical ID behind {"Ref": id} or {"Fn::GetAtt": [id, ...]}.
func refID(raw json.RawMessage) string {
	var ref struct {
		Ref    string        `json:"Ref"`
		GetAtt []interface{} `json:"Fn::GetAtt"`
	}
	if json.Unmarshal(raw, &ref) != nil {
		return ""
	}
	if ref.Ref != "" {
		return ref.Ref
	}
	if len(ref.GetAtt) > 0 {
		id, _ := ref.GetAtt[0].(string)
		return id
	}
	return ""
}

// alarmPublishProblems walks every alarm action of tpl to its topic, the topic's policy and the
// topic's key, and returns what would stop CloudWatch from delivering it, with the number of
// alarm actions it checked.
func alarmPublishProblems(tpl cfnTemplate) (problems []string, checked int) {
	// topic -> does its policy allow CloudWatch to publish
	topicAllows := map[string]bool{}
	for _, r := range tpl.Resources {
		if r.Type != "AWS::SNS::TopicPolicy" {
			continue
		}
		var topics []json.RawMessage
		var doc struct{ Statement []policyStatement }
		json.Unmarshal(r.Properties["Topics"], &topics)
		json.Unmarshal(r.Properties["PolicyDocument"], &doc)
		for _, st := range doc.Statement {
			if st.allows("cloudwatch.amazonaws.com", "sns:Publish") {
				for _, t := range topics {
					topicAllows[refID(t)] = true
				}
			}
		}
	}
	keyAllows := func(keyID string) bool {
		var policy struct{ Statement []policyStatement }
		json.Unmarshal(tpl.Resources[keyID].Properties["KeyPolicy"], &policy)
		for _, st := range policy.Statement {
			if st.allows("cloudwatch.amazonaws.com", "kms:Decrypt", "kms:GenerateDataKey*") {
				return true
			}
		}
		return false
	}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		var actions []json.RawMessage
		for _, field := range []string{"AlarmActions", "OKActions"} {
			var list []json.RawMessage
			json.Unmarshal(r.Properties[field], &list)
			actions = append(actions, list...)
		}
		for _, a := range actions {
			checked++
			topicID := refID(a)
			topic, ok := tpl.Resources[topicID]
			if !ok || topic.Type != "AWS::SNS::Topic" {
				problems = append(problems, fmt.Sprintf("alarm %s: action %s is not a topic of this stack", id, a))
				continue
			}
			if !topicAllows[topicID] {
				problems = append(problems, fmt.Sprintf("alarm %s: topic %s has no policy statement letting cloudwatch.amazonaws.com publish", id, topicID))
			}
			if key := refID(topic.Properties["KmsMasterKeyId"]); key != "" && !keyAllows(key) {
				problems = append(problems, fmt.Sprintf("alarm %s: topic %s's key %s does not let cloudwatch.amazonaws.com encrypt", id, topicID, key))
			}
		}
	}
	return problems, checked
}

func TestEveryAlarmCanNotify(t *testing.T) {
	// GIVEN the whole app
	for _, s := range platformApp(t).Stacks() {
		// WHEN each stack's alarms are followed to the topics they notify
		problems, checked := alarmPublishProblems(templateOf(t, s))
		// THEN CloudWatch may publish to every one of them, through the topic's policy and its key
		for _, p := range problems {
			t.Errorf("%s: %s", *s.StackName(), p)
		}
		if _, ok := map[string]bool{"CaroPlatform-eu-west-1": true, "CaroPlatform-eu-central-1": true}[*s.StackName()]; ok && checked < 20 {
			t.Errorf("%s: only %d alarm actions checked; the platform's alarms are missing", *s.StackName(), checked)
		}
	}
}

func TestAlarmPublishProblemsFindsAMissingGrant(t *testing.T) {
	// GIVEN an alarm notifying an encrypted topic whose policy only refuses non-TLS requests
	var tpl cfnTemplate
	if err := json.Unmarshal([]byte(`{"Resources": {
		"A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "T"}]}},
		"T": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["K", "Arn"]}}},
		"P": {"Type": "AWS::SNS::TopicPolicy", "Properties": {"Topics": [{"Ref": "T"}], "PolicyDocument": {"Statement": [
			{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish"}]}}},
		"K": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
			{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*"}]}}}
	}}`), &tpl); err != nil {
		t.Fatal(err)
	}
	// WHEN it is checked THEN both the topic policy and the key are reported
	problems, checked := alarmPublishProblems(tpl)
	if checked != 1 || len(problems) != 2 {
		t.Fatalf("checked %d, problems %q; want 1 action and 2 problems", checked, problems)
	}
}
