package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Permission paths, S3 replication with SSE-KMS and Object Lock. The permissions follow:
//   - https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html
//     (the replication role: s3:GetReplicationConfiguration and s3:ListBucket on the source bucket,
//     s3:GetObjectVersionForReplication, s3:GetObjectVersionAcl and s3:GetObjectVersionTagging on
//     its objects, s3:ReplicateObject, s3:ReplicateDelete and s3:ReplicateTags on the destination's;
//     the role trusts s3.amazonaws.com)
//   - https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-config-for-kms-objects.html
//     (kms:Decrypt on the source objects' key, kms:Encrypt on the replica key, through S3 in each
//     bucket's region; with an S3 Bucket Key the encryption context is the bucket ARN and the
//     replica key must also allow kms:Decrypt)
//   - https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-replication
//     (locked sources: s3:GetObjectRetention and s3:GetObjectLegalHold on the source; the
//     destination must have Object Lock)
//   - https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-requirements.html
//     (versioning on source and destination)

// replicationPath is one replication rule of one bucket, resolved across the app's stacks.
type replicationPath struct {
	source                         *stackView
	sourceID, role, rule           string
	sourceBucket, sourceKey        string
	dest                           *stackView
	destID, destBucket, destKey    string
	destKeyStack                   *stackView
	destKeyID, sourceKeyID, ruleKM string
}

// replicationPaths lists every replication rule of every bucket of the app.
func replicationPaths(t *testing.T, av *appView) []replicationPath {
	t.Helper()
	var out []replicationPath
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			rc, ok := r.Properties["ReplicationConfiguration"].(map[string]interface{})
			if r.Type != "AWS::S3::Bucket" || !ok {
				continue
			}
			rules, _ := rc["Rules"].([]interface{})
			for _, x := range rules {
				rule, _ := x.(map[string]interface{})
				dest, _ := rule["Destination"].(map[string]interface{})
				p := replicationPath{source: s, sourceID: id, role: refOf(rc, "Role"), rule: stringOf(rule["Id"])}
				p.sourceBucket = s.getAtt(id, "Arn")
				p.sourceKeyID = refOf(r.Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
				p.sourceKey = s.keyArn(p.sourceKeyID)
				p.destBucket = s.resolve(dest["Bucket"])
				p.dest, p.destID = av.bucketNamed(strings.TrimPrefix(p.destBucket, "arn:aws:s3:::"))
				enc, _ := dest["EncryptionConfiguration"].(map[string]interface{})
				p.ruleKM = s.resolve(enc["ReplicaKmsKeyID"])
				p.destKeyStack, p.destKeyID = av.keyByArn(p.ruleKM)
				if p.destKeyStack != nil {
					p.destKey = p.destKeyStack.keyArn(p.destKeyID)
				}
				out = append(out, p)
			}
		}
	}
	return out
}

// replicationProblems returns what would stop S3 replicating p, on both sides.
func replicationProblems(av *appView, p replicationPath) []string {
	var problems []string
	s := p.source
	src := s.tpl.Resources[p.sourceID]
	if p.dest == nil || p.destKeyStack == nil {
		return []string{fmt.Sprintf("destination bucket %s or replica key %s is not in the app", p.destBucket, p.ruleKM)}
	}
	dst := p.dest.tpl.Resources[p.destID]
	locked := stringOf(mapOf(src.Properties["ObjectLockConfiguration"])["ObjectLockEnabled"]) == "Enabled"

	// The destination side: versioning, Object Lock for a locked source, the bucket policy.
	for name, r := range map[string]cfnResource{"source": src, "destination": dst} {
		if stringOf(mapOf(r.Properties["VersioningConfiguration"])["Status"]) != "Enabled" {
			problems = append(problems, name+" bucket is not versioned")
		}
	}
	if locked && stringOf(mapOf(dst.Properties["ObjectLockConfiguration"])["ObjectLockEnabled"]) != "Enabled" {
		problems = append(problems, "the source has Object Lock, the destination does not")
	}

	// The role: trusted by S3, and its identity policies.
	trust := []policyStatement{}
	for _, st := range statementsOf(s.tpl.Resources[p.role].Properties, "AssumeRolePolicyDocument") {
		trust = append(trust, policyStatement{s, st, p.role})
	}
	roleArn := s.getAtt(p.role, "Arn")
	if !allows(trust, request{principal: "s3.amazonaws.com", action: "sts:AssumeRole", resource: roleArn}, true) {
		problems = append(problems, "role "+p.role+" cannot be assumed by s3.amazonaws.com")
	}
	identity := s.identityStatements(p.role)
	want := func(action, resource string, ctx map[string][]string) {
		if !allows(identity, request{principal: roleArn, action: action, resource: resource, context: ctx}, false) {
			problems = append(problems, fmt.Sprintf("role %s may not %s on %s (context %v)", p.role, action, resource, ctx))
		}
	}
	for _, a := range []string{"s3:GetReplicationConfiguration", "s3:ListBucket"} {
		want(a, p.sourceBucket, nil)
	}
	objectActions := []string{"s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"}
	if locked {
		objectActions = append(objectActions, "s3:GetObjectRetention", "s3:GetObjectLegalHold")
	}
	for _, a := range objectActions {
		want(a, p.sourceBucket+"/some/object", nil)
	}
	for _, a := range []string{"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"} {
		want(a, p.destBucket+"/some/object", nil)
	}

	// The keys, by key ARN, with the context S3 sends (bucket keys: the bucket ARN).
	kmsContext := func(region, bucket, key string) map[string][]string {
		return map[string][]string{
			"kms:ViaService":                   {"s3." + region + ".amazonaws.com"},
			"kms:EncryptionContext:aws:s3:arn": {bucket},
			"kms:ResourceAliases":              av.keyAliases[key],
			"kms:CallerAccount":                {testAccount},
		}
	}
	srcCtx := kmsContext(s.region, p.sourceBucket, p.sourceKey)
	dstCtx := kmsContext(p.dest.region, p.destBucket, p.destKey)
	want("kms:Decrypt", p.sourceKey, srcCtx)
	destActions := []string{"kms:Encrypt"}
	if bucketKeyEnabled(dst) {
		destActions = append(destActions, "kms:GenerateDataKey", "kms:Decrypt")
	}
	for _, a := range destActions {
		want(a, p.destKey, dstCtx)
	}
	// The key policies must let the role use the keys too (here: the account delegating to IAM).
	keyPolicy := func(ks *stackView, id string) []policyStatement {
		var out []policyStatement
		for _, st := range statementsOf(ks.tpl.Resources[id].Properties, "KeyPolicy") {
			out = append(out, policyStatement{ks, st, id})
		}
		return out
	}
	if !allows(keyPolicy(s, p.sourceKeyID), request{principal: roleArn, action: "kms:Decrypt", resource: p.sourceKey, context: srcCtx}, true) {
		problems = append(problems, "the source key's policy does not let the role decrypt")
	}
	for _, a := range destActions {
		if !allows(keyPolicy(p.destKeyStack, p.destKeyID), request{principal: roleArn, action: a, resource: p.destKey, context: dstCtx}, true) {
			problems = append(problems, "the replica key's policy does not allow the role "+a)
		}
	}
	// No bucket policy of the destination refuses the replication (TLS requests).
	for _, r := range p.dest.tpl.Resources {
		if r.Type != "AWS::S3::BucketPolicy" || refOf(r.Properties, "Bucket") != p.destID {
			continue
		}
		var sts []policyStatement
		for _, st := range statementsOf(r.Properties, "PolicyDocument") {
			sts = append(sts, policyStatement{p.dest, st, "policy"})
		}
		req := request{principal: roleArn, action: "s3:ReplicateObject", resource: p.destBucket + "/some/object",
			context: map[string][]string{"aws:SecureTransport": {"true"}, "s3:TlsVersion": {"1.3"}}}
		if decision(sts, req, true) == "deny" {
			problems = append(problems, "the destination's bucket policy denies the replication")
		}
	}
	return problems
}

// bucketKeyEnabled reports whether a bucket's default encryption uses an S3 Bucket Key.
func bucketKeyEnabled(bucket cfnResource) bool {
	rules, _ := mapOf(bucket.Properties["BucketEncryption"])["ServerSideEncryptionConfiguration"].([]interface{})
	return len(rules) > 0 && mapOf(rules[0])["BucketKeyEnabled"] == true
}

func mapOf(v interface{}) map[string]interface{} {
	m, _ := v.(map[string]interface{})
	return m
}

func TestEveryReplicationHasItsDocumentedPermissions(t *testing.T) {
	// GIVEN the whole app
	av := newAppView(t)
	// WHEN every replication rule is followed to its role, its keys and its destination
	paths := replicationPaths(t, av)
	// THEN S3 may replicate every object: read (with its lock) at the source, write at the
	// destination, decrypt with the source's key and encrypt with the replica key, by key ARN
	var rules []string
	for _, p := range paths {
		rules = append(rules, p.source.name+"/"+p.rule)
		for _, problem := range replicationProblems(av, p) {
			t.Errorf("%s, rule %s: %s", p.source.name, p.rule, problem)
		}
	}
	slices.Sort(rules)
	want := []string{
		"CaroEdge/assets-to-standby",
		"CaroPlatform-eu-central-1/backups-to-standby", "CaroPlatform-eu-central-1/checkpoints-to-standby",
		"CaroPlatform-eu-west-1/backups-to-standby", "CaroPlatform-eu-west-1/checkpoints-to-standby",
	}
	if !slices.Equal(rules, want) {
		t.Errorf("replication rules %v, want %v", rules, want)
	}
}

// Permission path, Cognito to SNS for SMS, following
// https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-sms-settings.html: the pool's
// SMS role trusts cognito-idp.amazonaws.com with the pool's external ID, allows sns:Publish (SMS to
// phone numbers has no resource ARN, "*"), and exists with its policy before the pool, which
// Cognito checks at creation (InvalidSmsRoleAccessPolicyException).
func TestEveryUserPoolMaySendSMSFromItsCreation(t *testing.T) {
	av := newAppView(t)
	pools := 0
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::Cognito::UserPool" {
				continue
			}
			pools++
			sms := mapOf(r.Properties["SmsConfiguration"])
			role := refOf(sms, "SnsCallerArn")
			roleArn := s.getAtt(role, "Arn")
			var trust []policyStatement
			for _, st := range statementsOf(s.tpl.Resources[role].Properties, "AssumeRolePolicyDocument") {
				trust = append(trust, policyStatement{s, st, role})
			}
			assume := request{principal: "cognito-idp.amazonaws.com", action: "sts:AssumeRole", resource: roleArn, context: map[string][]string{
				"sts:ExternalId": {s.resolve(sms["ExternalId"])}, "aws:SourceAccount": {testAccount},
			}}
			if !allows(trust, assume, true) {
				t.Errorf("%s: pool %s: cognito-idp may not assume %s with the pool's external ID", s.name, id, role)
			}
			identity := s.identityStatements(role)
			if !allows(identity, request{principal: roleArn, action: "sns:Publish", resource: "*"}, false) {
				t.Errorf("%s: pool %s: role %s may not publish SMS", s.name, id, role)
			}
			// Every policy that grants the publish is created before the pool.
			for _, ps := range identity {
				if ps.from != role && allows([]policyStatement{ps}, request{principal: roleArn, action: "sns:Publish", resource: "*"}, false) &&
					!slices.Contains(dependsOn(r), ps.from) {
					t.Errorf("%s: pool %s does not depend on %s, which lets its SMS role publish: Cognito may check the role first", s.name, id, ps.from)
				}
			}
		}
	}
	if pools != 2 {
		t.Errorf("%d user pools checked, want 2", pools)
	}
}

// dependsOn lists a resource's DependsOn.
func dependsOn(r cfnResource) []string {
	if s, ok := r.DependsOn.(string); ok {
		return []string{s}
	}
	return stringsOf(r.DependsOn)
}

func TestEveryNameResolvesToItsOwnCustomDomain(t *testing.T) {
	// GIVEN the whole app
	av := newAppView(t)
	checked := 0
	for _, s := range av.stacks {
		for id, r := range s.tpl.Resources {
			if r.Type != "AWS::Route53::RecordSet" {
				continue
			}
			records, _ := r.Properties["ResourceRecords"].([]interface{})
			for _, rec := range records {
				// WHEN a record points at an API Gateway custom domain's regional target
				att, _ := mapOf(rec)["Fn::GetAtt"].([]interface{})
				if len(att) != 2 || att[1] != "RegionalDomainName" {
					continue
				}
				checked++
				// THEN that custom domain is the record's own name: API Gateway answers a name only on
				// the target of the domain configured with it (a 403 otherwise)
				domain := s.tpl.Resources[stringOf(att[0])]
				if got, want := stringOf(domain.Properties["DomainName"]), stringOf(r.Properties["Name"]); got != want {
					t.Errorf("%s: record %s (%s) points at the target of custom domain %s", s.name, id, want, got)
				}
			}
		}
	}
	if checked != 4 {
		t.Errorf("%d records checked, want 4 (api-origin and api-<region> in two regions)", checked)
	}
}
