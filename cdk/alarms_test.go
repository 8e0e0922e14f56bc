package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

// alarmPublishProblems walks every alarm action of tpl to its topic, the topic's policy and the
// topic's key, and returns what would stop CloudWatch from delivering it, with the number of
// alarm actions it checked.
func alarmPublishProblems(tpl cfnTemplate) (problems []string, checked int) {
	// The topics and keys whose policies let CloudWatch publish (topic) and encrypt (key).
	topicAllows, keyAllows := map[string]bool{}, map[string]bool{}
	for id, r := range tpl.Resources {
		switch r.Type {
		case "AWS::SNS::TopicPolicy":
			for _, st := range statementsOf(r.Properties, "PolicyDocument") {
				if allowsService(st, "cloudwatch.amazonaws.com", "sns:Publish") {
					topics, _ := r.Properties["Topics"].([]interface{})
					for _, topic := range topics {
						topicAllows[refOf(topic)] = true
					}
				}
			}
		case "AWS::KMS::Key":
			for _, st := range statementsOf(r.Properties, "KeyPolicy") {
				keyAllows[id] = keyAllows[id] || allowsService(st, "cloudwatch.amazonaws.com", "kms:Decrypt", "kms:GenerateDataKey*")
			}
		}
	}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		for _, field := range []string{"AlarmActions", "OKActions"} {
			actions, _ := r.Properties[field].([]interface{})
			for _, a := range actions {
				checked++
				topicID := refOf(a)
				topic, ok := tpl.Resources[topicID]
				if !ok || topic.Type != "AWS::SNS::Topic" {
					problems = append(problems, fmt.Sprintf("alarm %s: action %v is not a topic of this stack", id, a))
					continue
				}
				if !topicAllows[topicID] {
					problems = append(problems, fmt.Sprintf("alarm %s: topic %s has no policy statement letting cloudwatch.amazonaws.com publish", id, topicID))
				}
				if key := refOf(topic.Properties, "KmsMasterKeyId"); key != "" && !keyAllows[key] {
					problems = append(problems, fmt.Sprintf("alarm %s: topic %s's key %s does not let cloudwatch.amazonaws.com encrypt", id, topicID, key))
				}
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
