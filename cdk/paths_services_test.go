package main

import (
	"fmt"
	"strings"
	"testing"
)

// Permission paths between services, each following the AWS page it cites, on both sides: the
// caller's identity policy where it has one, and the resource's or key's policy.

// docStatements are the statements of the policy document in field of a resource of s.
func (s *stackView) docStatements(props map[string]interface{}, field, from string) []policyStatement {
	var out []policyStatement
	for _, st := range statementsOf(props, field) {
		out = append(out, policyStatement{s, st, from})
	}
	return out
}

// keyPolicy is the key policy of key id in s.
func (s *stackView) keyPolicy(id string) []policyStatement {
	return s.docStatements(s.tpl.Resources[id].Properties, "KeyPolicy", id)
}

// bucketPolicy is the bucket policy of bucket id in s.
func (s *stackView) bucketPolicy(id string) []policyStatement {
	var out []policyStatement
	for pid, r := range s.tpl.Resources {
		if r.Type == "AWS::S3::BucketPolicy" && refOf(r.Properties, "Bucket") == id {
			out = append(out, s.docStatements(r.Properties, "PolicyDocument", pid)...)
		}
	}
	return out
}

// TestCloudFrontReadsEveryS3OriginThroughOAC follows
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html:
// the bucket policy allows cloudfront.amazonaws.com s3:GetObject with AWS:SourceArn the
// distribution, and with SSE-KMS the key policy allows it kms:Decrypt likewise. The standby's
// replica (the origin group's fallback) is checked in its own stack.
func TestCloudFrontReadsEveryS3OriginThroughOAC(t *testing.T) {
	av := newAppView(t)
	edge := av.stack(t, "CaroEdge")
	checked := 0
	for distID, r := range edge.tpl.Resources {
		if r.Type != "AWS::CloudFront::Distribution" {
			continue
		}
		distArn := fmt.Sprintf("arn:aws:cloudfront::%s:distribution/%s", testAccount, distID)
		origins, _ := mapOf(r.Properties["DistributionConfig"])["Origins"].([]interface{})
		for _, o := range origins {
			origin := mapOf(o)
			if origin["S3OriginConfig"] == nil {
				continue
			}
			checked++
			if origin["OriginAccessControlId"] == nil {
				t.Errorf("origin %s has no origin access control", stringOf(origin["Id"]))
			}
			domain := edge.resolve(origin["DomainName"])
			bucket := strings.Split(domain, ".s3.")[0]
			bs, bid := av.bucketNamed(bucket)
			if bs == nil {
				t.Errorf("origin %s: bucket %s is not in the app", stringOf(origin["Id"]), bucket)
				continue
			}
			ctx := map[string][]string{"AWS:SourceArn": {distArn}, "aws:SourceArn": {distArn}, "aws:SecureTransport": {"true"}, "s3:TlsVersion": {"1.3"}}
			get := request{principal: "cloudfront.amazonaws.com", action: "s3:GetObject", resource: "arn:aws:s3:::" + bucket + "/index.html", context: ctx}
			if !allows(bs.bucketPolicy(bid), get, true) {
				t.Errorf("origin %s: the policy of bucket %s (%s) does not let the distribution read", stringOf(origin["Id"]), bucket, bs.name)
			}
			keyID := refOf(bs.tpl.Resources[bid].Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
			if keyID == "" {
				continue
			}
			decrypt := request{principal: "cloudfront.amazonaws.com", action: "kms:Decrypt", resource: bs.keyArn(keyID), context: ctx}
			if !allows(bs.keyPolicy(keyID), decrypt, true) {
				t.Errorf("origin %s: key %s of bucket %s does not let the distribution decrypt", stringOf(origin["Id"]), keyID, bucket)
			}
		}
	}
	if checked != 2 {
		t.Errorf("%d S3 origins checked, want 2 (the asset bucket and its standby replica)", checked)
	}
}

// TestEveryEncryptedLogGroupsKeyLetsCloudWatchLogsUseIt follows
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html: the key
// policy allows logs.<region>.amazonaws.com kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*,
// kms:GenerateDataKey* and kms:Describe* for the log group's ARN in the encryption context.
func TestEveryEncryptedLogGroupsKeyLetsCloudWatchLogsUseIt(t *testing.T) {
	av := newAppView(t)
	checked := 0
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::Logs::LogGroup" || r.Properties["KmsKeyId"] == nil {
				continue
			}
			checked++
			key := refOf(r.Properties, "KmsKeyId")
			group := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, testAccount, s.logGroupName(id))
			for _, a := range []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:GenerateDataKey", "kms:DescribeKey"} {
				req := request{principal: "logs." + s.region + ".amazonaws.com", action: a, resource: s.keyArn(key),
					context: map[string][]string{"kms:EncryptionContext:aws:logs:arn": {group}}}
				if !allows(s.keyPolicy(key), req, true) {
					t.Errorf("%s: log group %s: key %s does not allow CloudWatch Logs %s", s.name, id, key, a)
				}
			}
		}
	}
	if checked < 15 {
		t.Errorf("only %d encrypted log groups checked", checked)
	}
}

// TestAPIGatewayMayWriteItsAccessLogs follows
// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html: a stage writes
// access logs only when the account's API Gateway settings name a CloudWatch role that
// apigateway.amazonaws.com may assume, with AmazonAPIGatewayPushToCloudWatchLogs.
func TestAPIGatewayMayWriteItsAccessLogs(t *testing.T) {
	av := newAppView(t)
	for _, s := range av.stacks {
		stages := 0
		for _, r := range s.tpl.Resources {
			if r.Type == "AWS::ApiGateway::Stage" && r.Properties["AccessLogSetting"] != nil {
				stages++
			}
		}
		if stages == 0 {
			continue
		}
		found := false
		for _, r := range s.tpl.Resources {
			if r.Type != "AWS::ApiGateway::Account" {
				continue
			}
			role := refOf(r.Properties, "CloudWatchRoleArn")
			rr := s.tpl.Resources[role]
			trust := s.docStatements(rr.Properties, "AssumeRolePolicyDocument", role)
			managed := fmt.Sprint(rr.Properties["ManagedPolicyArns"])
			found = allows(trust, request{principal: "apigateway.amazonaws.com", action: "sts:AssumeRole"}, true) &&
				strings.Contains(managed, "AmazonAPIGatewayPushToCloudWatchLogs")
		}
		if !found {
			t.Errorf("%s: %d stages write access logs, but no API Gateway account setting names a CloudWatch role API Gateway may assume", s.name, stages)
		}
	}
}

// TestEveryFunctionMayReachItsDeadLetterQueueAndTopics follows
// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html (the execution
// role needs sqs:SendMessage on the dead-letter queue and the on-failure destination),
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
// and https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html (a producer of an
// encrypted queue or topic needs kms:GenerateDataKey and kms:Decrypt on its key, which the key
// policy allows too).
func TestEveryFunctionMayReachItsDeadLetterQueueAndTopics(t *testing.T) {
	av := newAppView(t)
	checked := 0
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::Lambda::Function" {
				continue
			}
			role := refOf(r.Properties, "Role")
			roleArn := s.getAtt(role, "Arn")
			identity := s.identityStatements(role)
			want := func(what, action, resource string) {
				if !allows(identity, request{principal: roleArn, action: action, resource: resource}, false) {
					t.Errorf("%s: function %s may not %s on %s (%s)", s.name, id, action, resource, what)
				}
			}
			encryptedBy := func(what, resID, keyProp string) {
				key := refOf(s.tpl.Resources[resID].Properties, keyProp)
				if key == "" {
					return
				}
				for _, a := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
					want(what+"'s key", a, s.keyArn(key))
					if !allows(s.keyPolicy(key), request{principal: roleArn, action: a, resource: s.keyArn(key)}, true) {
						t.Errorf("%s: key %s does not let function %s %s", s.name, key, id, a)
					}
				}
			}
			targets := map[string]string{}
			if q := refOf(r.Properties, "DeadLetterConfig", "TargetArn"); q != "" {
				targets[q] = "dead-letter queue"
			}
			for _, c := range s.tpl.Resources {
				if c.Type == "AWS::Lambda::EventInvokeConfig" && refOf(c.Properties, "FunctionName") == id {
					if q := refOf(c.Properties, "DestinationConfig", "OnFailure", "Destination"); q != "" {
						targets[q] = "on-failure destination"
					}
				}
			}
			for q, what := range targets {
				checked++
				want(what, "sqs:SendMessage", s.getAtt(q, "Arn"))
				encryptedBy(what, q, "KmsMasterKeyId")
			}
			// A topic the function is given and not subscribed to is one it publishes to.
			subscribed := map[string]bool{}
			for _, c := range s.tpl.Resources {
				if c.Type == "AWS::SNS::Subscription" && refOf(c.Properties, "Endpoint") == id {
					subscribed[refOf(c.Properties, "TopicArn")] = true
				}
			}
			vars := mapOf(mapOf(r.Properties["Environment"])["Variables"])
			for name, v := range vars {
				topic := refOf(v)
				if !strings.HasSuffix(name, "_TOPIC_ARN") || topic == "" || subscribed[topic] {
					continue
				}
				checked++
				want(name, "sns:Publish", s.getAtt(topic, "TopicArn"))
				encryptedBy(name, topic, "KmsMasterKeyId")
			}
		}
	}
	if checked < 15 {
		t.Errorf("only %d queues and topics checked", checked)
	}
}

// TestEveryInvocationOfAFunctionIsPermitted follows
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions,
// https://docs.aws.amazon.com/sns/latest/dg/sns-lambda-as-subscriber.html and
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample:
// a function invoked by a rule, a topic or a log subscription has a resource-based permission for
// that service principal, with that rule, topic or log group as the source ARN.
func TestEveryInvocationOfAFunctionIsPermitted(t *testing.T) {
	av := newAppView(t)
	checked := 0
	for _, s := range av.stacks {
		var permissions []policyStatement
		for pid, r := range s.tpl.Resources {
			if r.Type == "AWS::Lambda::Permission" {
				permissions = append(permissions, policyStatement{s, map[string]interface{}{
					"Effect": "Allow", "Action": r.Properties["Action"], "Principal": map[string]interface{}{"Service": r.Properties["Principal"]},
					"Resource":  s.getAtt(refOf(r.Properties, "FunctionName"), "Arn"),
					"Condition": map[string]interface{}{"ArnLike": map[string]interface{}{"aws:SourceArn": r.Properties["SourceArn"]}},
				}, pid})
			}
		}
		invoked := func(what, fn, principal, source string) {
			checked++
			req := request{principal: principal, action: "lambda:InvokeFunction", resource: s.getAtt(fn, "Arn"), context: map[string][]string{"aws:SourceArn": {source}}}
			if !allows(permissions, req, true) {
				t.Errorf("%s: %s may not invoke function %s (no permission for %s from %s)", s.name, what, fn, principal, source)
			}
		}
		for id, r := range s.tpl.Resources {
			switch r.Type {
			case "AWS::Events::Rule":
				targets, _ := r.Properties["Targets"].([]interface{})
				for _, x := range targets {
					if fn := refOf(x, "Arn"); s.tpl.Resources[fn].Type == "AWS::Lambda::Function" {
						invoked("rule "+id, fn, "events.amazonaws.com", s.getAtt(id, "Arn"))
					}
				}
			case "AWS::SNS::Subscription":
				if r.Properties["Protocol"] == "lambda" {
					invoked("subscription "+id, refOf(r.Properties, "Endpoint"), "sns.amazonaws.com", s.resolve(r.Properties["TopicArn"]))
				}
			case "AWS::Logs::SubscriptionFilter":
				group := refOf(r.Properties, "LogGroupName")
				invoked("log subscription "+id, refOf(r.Properties, "DestinationArn"), "logs.amazonaws.com",
					fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:*", s.region, testAccount, s.logGroupName(group)))
			}
		}
	}
	// 18: the backups moved from a daily rule to the backup engine's state machines, which invoke
	// their worker through their own role (constructs/backupengine's tests check it).
	if checked < 18 {
		t.Errorf("only %d invocations checked", checked)
	}
}

// TestOnCallReadsTheConnectionStringInEachRegion follows
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html and
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html: reading a
// secret needs secretsmanager:GetSecretValue on it and kms:Decrypt on its customer managed key,
// which Secrets Manager asks with the secret's ARN as encryption context (issue 15: the failover
// reads the target's connection string, and the Atlas credentials for a snapshot restore).
func TestOnCallReadsTheConnectionStringInEachRegion(t *testing.T) {
	o := newRoleView(t, "On-call failover", "the on-call role")
	av, roleArn, identity := o.av, o.arn, o.identity
	regions := 0
	for _, s := range av.stacks {
		if !strings.HasPrefix(s.name, "CaroPlatform-") {
			continue
		}
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::SecretsManager::Secret" || s.resolve(r.Properties["Name"]) != ConnectionSecretName(s.region) {
				continue
			}
			regions++
			secret := s.getAtt(id, "Arn")
			if !allows(identity, request{principal: roleArn, action: "secretsmanager:GetSecretValue", resource: secret}, false) {
				t.Errorf("%s: the on-call role may not read %s", s.name, secret)
			}
			key := refOf(r.Properties, "KmsKeyId")
			decrypt := request{principal: roleArn, action: "kms:Decrypt", resource: s.keyArn(key), context: map[string][]string{
				"kms:ViaService": {"secretsmanager." + s.region + ".amazonaws.com"}, "kms:EncryptionContext:SecretARN": {secret},
				"kms:ResourceAliases": av.keyAliases[s.keyArn(key)],
			}}
			if !allows(identity, decrypt, false) || !allows(s.keyPolicy(key), decrypt, true) {
				t.Errorf("%s: the on-call role may not decrypt %s with key %s through Secrets Manager", s.name, secret, key)
			}
			atlas := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", s.region, testAccount, AtlasCredentialsSecretName)
			if !allows(identity, request{principal: roleArn, action: "secretsmanager:GetSecretValue", resource: atlas}, false) {
				t.Errorf("%s: the on-call role may not read the Atlas credentials %s", s.name, atlas)
			}
			// AND nothing more than reading
			if allows(identity, request{principal: roleArn, action: "secretsmanager:PutSecretValue", resource: secret}, false) {
				t.Errorf("%s: the on-call role may change %s", s.name, secret)
			}
		}
	}
	if regions != 2 {
		t.Errorf("%d connection-string secrets checked, want 2", regions)
	}
}

// TestAtlasMayUseItsKeyOnceAuthorized follows MongoDB's "Manage Customer Keys with AWS KMS"
// (https://www.mongodb.com/docs/atlas/security-aws-kms/): the IAM role Atlas assumes trusts
// Atlas's AWS principal with the project's external ID, may kms:Encrypt, kms:Decrypt and
// kms:DescribeKey the customer master key (the key policy lets the account's IAM decide), and is
// authorized for the project's cloud provider access role before encryption at rest names it.
func TestAtlasMayUseItsKeyOnceAuthorized(t *testing.T) {
	av := newAppView(t)
	pa := platformApp(t)
	checked := 0
	for _, s := range av.stacks {
		def, err := pa.Regions.Get(s.region)
		if err != nil || !strings.HasPrefix(s.name, "CaroPlatform-") || def.Atlas.KeyAccess == nil {
			continue
		}
		for id, r := range s.tpl.Resources {
			if r.Type != "MongoDB::Atlas::EncryptionAtRest" {
				continue
			}
			checked++
			cfg := mapOf(r.Properties["AwsKmsConfig"])
			key := refOf(cfg, "CustomerMasterKeyID")
			// The authorization that names the key role, which encryption at rest waits for.
			var auth, role string
			for aid, a := range s.tpl.Resources {
				if a.Type == "Custom::AtlasKeyRoleAuthorization" && stringOf(a.Properties["RoleId"]) == stringOf(cfg["RoleID"]) {
					auth, role = aid, refOf(a.Properties, "IamRoleArn")
				}
			}
			if auth == "" || !dependsOnTransitively(s, id, auth) {
				t.Errorf("%s: %s does not wait for an authorization of Atlas role %s", s.name, id, stringOf(cfg["RoleID"]))
				continue
			}
			roleArn := s.getAtt(role, "Arn")
			trust := s.docStatements(s.tpl.Resources[role].Properties, "AssumeRolePolicyDocument", role)
			assume := request{principal: def.Atlas.KeyAccess.AtlasAWSAccountARN, action: "sts:AssumeRole", context: map[string][]string{"sts:ExternalId": {def.Atlas.KeyAccess.ExternalID}}}
			if !allows(trust, assume, true) {
				t.Errorf("%s: Atlas (%s) may not assume %s with the project's external ID", s.name, def.Atlas.KeyAccess.AtlasAWSAccountARN, role)
			}
			for _, a := range []string{"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"} {
				req := request{principal: roleArn, action: a, resource: s.keyArn(key)}
				if !allows(s.identityStatements(role), req, false) || !allows(s.keyPolicy(key), req, true) {
					t.Errorf("%s: role %s may not %s key %s", s.name, role, a, key)
				}
				// AND the authorization waits for that permission
				for _, ps := range s.identityStatements(role) {
					if ps.from != role && allows([]policyStatement{ps}, req, false) && !dependsOnTransitively(s, auth, ps.from) {
						t.Errorf("%s: %s does not wait for %s, which lets the role use the key", s.name, auth, ps.from)
					}
				}
			}
		}
	}
	if checked != 2 {
		t.Errorf("%d encryption-at-rest configurations checked, want 2", checked)
	}
}

// dependsOnTransitively reports whether resource from waits for resource to (DependsOn or a
// reference, followed through other resources).
func dependsOnTransitively(s *stackView, from, to string) bool {
	seen := map[string]bool{}
	var walk func(id string) bool
	walk = func(id string) bool {
		if id == to {
			return true
		}
		if seen[id] {
			return false
		}
		seen[id] = true
		r := s.tpl.Resources[id]
		next := dependsOn(r)
		next = append(next, referencesIn(r.Properties)...)
		for _, n := range next {
			if walk(n) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// referencesIn lists the logical IDs v refers to (Ref, Fn::GetAtt).
func referencesIn(v interface{}) []string {
	var out []string
	switch x := v.(type) {
	case map[string]interface{}:
		if id := refOf(x); id != "" && !strings.HasPrefix(id, "AWS::") {
			out = append(out, id)
		}
		for _, e := range x {
			out = append(out, referencesIn(e)...)
		}
	case []interface{}:
		for _, e := range x {
			out = append(out, referencesIn(e)...)
		}
	}
	return out
}

// TestOnCallMayRunTheRestoreEngineInEachRegion follows the failover's cold path
// (internal/providers/aws StateMachineEngine): the on-call role starts the state machine the target
// stack's output PrestageStateMachineArn names and follows its execution (StartExecution on the
// state machine, DescribeExecution on its executions: Service Authorization Reference, AWS Step
// Functions, https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html).
// It may start no other state machine and stop none.
func TestOnCallMayRunTheRestoreEngineInEachRegion(t *testing.T) {
	o := newRoleView(t, "On-call failover", "the on-call role")
	av, roleArn, identity := o.av, o.arn, o.identity
	checked := 0
	for _, s := range av.stacks {
		out, ok := s.tpl.Outputs["PrestageStateMachineArn"]
		if !strings.HasPrefix(s.name, "CaroPlatform-") || !ok {
			continue
		}
		// GIVEN the state machine the stack's output names
		engine := s.resolve(out.Value)
		if !strings.HasPrefix(engine, "arn:aws:states:"+s.region+":") {
			t.Fatalf("%s: output PrestageStateMachineArn resolves to %q", s.name, engine)
		}
		checked++
		name := engine[strings.LastIndex(engine, ":")+1:]
		execution := fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:failover-20261208T031500Z-0a1b2c3d", s.region, testAccount, name)
		// THEN the on-call role may start it and follow its execution
		if !allows(identity, request{principal: roleArn, action: "states:StartExecution", resource: engine}, false) {
			t.Errorf("%s: the on-call role may not start the restore engine %s", s.name, engine)
		}
		if !allows(identity, request{principal: roleArn, action: "states:DescribeExecution", resource: execution}, false) {
			t.Errorf("%s: the on-call role may not follow the restore engine's execution %s", s.name, execution)
		}
		// AND nothing more: not stop it, not start another state machine of the stack
		if allows(identity, request{principal: roleArn, action: "states:StopExecution", resource: execution}, false) {
			t.Errorf("%s: the on-call role may stop %s", s.name, execution)
		}
		for id, r := range s.tpl.Resources {
			if other := s.ref(id); r.Type == "AWS::StepFunctions::StateMachine" && other != engine &&
				allows(identity, request{principal: roleArn, action: "states:StartExecution", resource: other}, false) {
				t.Errorf("%s: the on-call role may start %s", s.name, other)
			}
		}
	}
	if checked != 2 {
		t.Errorf("%d restore engines checked, want 2 (one per platform region)", checked)
	}
}
