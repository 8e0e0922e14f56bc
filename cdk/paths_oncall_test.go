package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/carohealth/platform/constructs/identity"
	"github.com/carohealth/platform/constructs/peershare"
	"github.com/carohealth/platform/constructs/roles"
)

// The on-call role's permission paths: what `caro failover plan` and `apply` call in the target
// region (internal/providers/aws), each request checked on the role's identity policy and, where
// the resource has one, on the bucket's or key's policy, as IAM evaluates them in one account.
// Pages followed: Service Authorization Reference (Amazon S3, AWS KMS, AWS CloudFormation, Amazon
// Route 53, Amazon Cognito User Pools, AWS Systems Manager), "Protecting data with server-side
// encryption with AWS KMS keys (SSE-KMS)" (S3 asks KMS with the caller's permission: kms:Decrypt to
// read, kms:GenerateDataKey to write), and "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys"
// (the encryption context names the bucket). The connection string, the release, the ledger
// replicas and the restore engine are checked in paths_services_test.go and readiness_test.go.

// TestOnCallReachesEveryResourceOfTheFailover walks the failover into each platform region from
// its peer: the deploy step's change set on the target's stack, the backup catalogue and the
// restore (the replica backup bucket and the target's replica of the peer's backup key, under the
// data key's purpose), the journal and lock beside the backups, the erasure register in the
// target's own backup bucket, the identities step in the target's user pool, the DNS step in the
// hosted zone, and the peer's shared parameters.
func TestOnCallReachesEveryResourceOfTheFailover(t *testing.T) {
	o := newRoleView(t, "On-call failover", "the on-call role")
	checked := 0
	for _, sv := range o.av.stacks {
		if !strings.HasPrefix(sv.name, "CaroPlatform-") {
			continue
		}
		checked++
		target, peer := sv.region, ""
		for _, other := range o.av.stacks {
			if strings.HasPrefix(other.name, "CaroPlatform-") && other.region != target {
				peer = other.region
			}
		}
		var problems []string
		add := func(p string) {
			if p != "" {
				problems = append(problems, p)
			}
		}
		identityOnly := func(what string, req request) {
			req.principal = o.arn
			if !allows(o.identity, req, false) {
				add(fmt.Sprintf("the on-call role may not %s (%s on %s)", what, req.action, req.resource))
			}
		}
		// GIVEN the deploy step: a change set of the target's platform stack
		stack := fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/CaroPlatform-%s/%s", target, testAccount, target, testStackUUID)
		for _, action := range []string{"cloudformation:DescribeStacks", "cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet", "cloudformation:DescribeStackEvents"} {
			identityOnly("deploy the target's stack", request{action: action, resource: stack})
		}
		identityOnly("follow the change set", request{action: "cloudformation:DescribeChangeSet",
			resource: fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/caro-failover-p/%s", target, testAccount, testStackUUID)})
		// AND the backups: list, read and decrypt through S3 in the target's replica bucket
		backups := ReplicaBucketName(replicaBackup, testAccount, target)
		id := "20261208T000000Z-1a2b3c4d"
		add(o.s3Request(backups, "s3:ListBucket", "arn:aws:s3:::"+backups, map[string][]string{"s3:prefix": {"backups/"}}))
		for _, object := range []string{"backups/" + id + "/manifest.json", "backups/" + id + "/part-00000.bin", "backups/" + id + "/identities.bin"} {
			add(o.s3Request(backups, "s3:GetObject", "arn:aws:s3:::"+backups+"/"+object, map[string][]string{}))
			add(o.s3Decrypts(backups, object))
		}
		// AND the journal and the lock beside them: written, the lock deleted to release it
		for _, object := range []string{"failover/p/journal/00000001.json", "failover/p/lock.json"} {
			add(o.s3Request(backups, "s3:PutObject", "arn:aws:s3:::"+backups+"/"+object, map[string][]string{}))
			add(o.s3Request(backups, "s3:GetObject", "arn:aws:s3:::"+backups+"/"+object, map[string][]string{}))
			add(o.s3Key("kms:GenerateDataKey", backups, object))
		}
		add(o.s3Request(backups, "s3:DeleteObject", "arn:aws:s3:::"+backups+"/failover/p/lock.json", map[string][]string{}))
		// AND the data keys: unwrapped with the target's replica of the peer's backup key (both the
		// backup's and the identity export's purpose), on the role's side and the replica's policy
		_, mrk, replicaPolicy := o.backupKey(t, peer)
		replica := fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", target, testAccount, mrk)
		tag := "aws:ResourceTag/" + peershare.BackupKeyTagKey
		describe := request{principal: o.arn, action: "kms:DescribeKey", resource: replica, context: map[string][]string{tag: {peershare.BackupKeyTagValue}}}
		if !allows(o.identity, describe, false) {
			add("the on-call role may not describe the backup key replica " + replica + " (the preflight)")
		}
		for _, purpose := range roles.BackupKeyPurposes {
			unwrap := request{principal: o.arn, action: "kms:Decrypt", resource: replica, context: map[string][]string{
				"kms:EncryptionContext:caro:purpose": {purpose}, "kms:EncryptionContext:caro:backup-id": {id},
				"kms:EncryptionContext:caro:source-region": {peer}, "kms:EncryptionContextKeys": roles.BackupEncryptionContextKeys,
				tag: {peershare.BackupKeyTagValue},
			}}
			if !allows(o.identity, unwrap, false) {
				add(fmt.Sprintf("the on-call role may not unwrap a %s data key with the replica %s", purpose, replica))
			}
			if len(replicaPolicy) == 0 || !allows(replicaPolicy, unwrap, true) {
				add(fmt.Sprintf("the policy of the replica %s does not let the on-call role unwrap a %s data key", replica, purpose))
			}
		}
		// AND the erasure register in the target's own backup bucket
		own := ""
		for rid, r := range sv.tpl.Resources {
			if r.Type == "AWS::S3::Bucket" && strings.HasPrefix(sv.bucketName(rid), strings.TrimSuffix(OwnBackupBucketPattern(target), "*")) {
				own = sv.bucketName(rid)
			}
		}
		if own == "" {
			add("no own backup bucket matching " + OwnBackupBucketPattern(target))
		} else {
			add(o.s3Request(own, "s3:ListBucket", "arn:aws:s3:::"+own, map[string][]string{"s3:prefix": {"erasures/"}}))
			add(o.s3Request(own, "s3:GetObject", "arn:aws:s3:::"+own+"/erasures/subject-1.json", map[string][]string{}))
			add(o.s3Decrypts(own, "erasures/subject-1.json"))
		}
		// AND the identities step in the target's user pool (tagged as a platform pool)
		pools := 0
		for rid, r := range sv.tpl.Resources {
			if r.Type != "AWS::Cognito::UserPool" {
				continue
			}
			pools++
			for _, action := range []string{"cognito-idp:AdminGetUser", "cognito-idp:AdminCreateUser"} {
				identityOnly("recreate the users in "+rid, request{action: action, resource: sv.getAtt(rid, "Arn"),
					context: map[string][]string{"aws:ResourceTag/" + identity.PoolTagKey: {identity.PoolTagValue}}})
			}
		}
		if pools != 1 {
			add(fmt.Sprintf("%d user pools in %s, want 1", pools, sv.name))
		}
		// AND the DNS step in the hosted zone, and the peer's shared parameters in the target
		def, err := platformApp(t).Regions.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{"route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets"} {
			identityOnly("move the DNS name", request{action: action, resource: "arn:aws:route53:::hostedzone/" + def.HostedZoneID})
		}
		identityOnly("follow the record change", request{action: "route53:GetChange", resource: "arn:aws:route53:::change/C0123456789"})
		identityOnly("read the peer's shared backup key", request{action: "ssm:GetParameter",
			resource: fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", target, testAccount, peershare.ParameterBackupKey(peer))})
		for _, p := range problems {
			t.Errorf("failover to %s: %s", target, p)
		}
	}
	if checked != 2 {
		t.Errorf("%d target regions checked, want 2", checked)
	}
}

// TestOnCallMayNotTouchWhatTheFailoverDoesNot: the role changes only what the steps change; it may
// not write or delete a backup, unwrap a data key under another purpose, make a data key with a
// backup key, delete a stack, or change another hosted zone.
func TestOnCallMayNotTouchWhatTheFailoverDoesNot(t *testing.T) {
	o := newRoleView(t, "On-call failover", "the on-call role")
	for _, sv := range o.av.stacks {
		if !strings.HasPrefix(sv.name, "CaroPlatform-") {
			continue
		}
		backups := "arn:aws:s3:::" + ReplicaBucketName(replicaBackup, testAccount, sv.region)
		mrk := fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-x", sv.region, testAccount)
		tag := map[string][]string{"aws:ResourceTag/" + peershare.BackupKeyTagKey: {peershare.BackupKeyTagValue}}
		refused := map[string]request{
			"write a backup":               {action: "s3:PutObject", resource: backups + "/backups/x/manifest.json"},
			"delete a backup":              {action: "s3:DeleteObject", resource: backups + "/backups/x/manifest.json"},
			"make a backup key's data key": {action: "kms:GenerateDataKey", resource: mrk, context: tag},
			"unwrap under another purpose": {action: "kms:Decrypt", resource: mrk, context: map[string][]string{
				"kms:EncryptionContext:caro:purpose": {"api-field"}, "aws:ResourceTag/" + peershare.BackupKeyTagKey: {peershare.BackupKeyTagValue}}},
			"delete the stack": {action: "cloudformation:DeleteStack",
				resource: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/CaroPlatform-%s/%s", sv.region, testAccount, sv.region, testStackUUID)},
			"change another stack": {action: "cloudformation:ExecuteChangeSet",
				resource: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/CaroEdge/%s", sv.region, testAccount, testStackUUID)},
			"change another zone": {action: "route53:ChangeResourceRecordSets", resource: "arn:aws:route53:::hostedzone/ZOTHERZONE"},
		}
		for what, req := range refused {
			req.principal = o.arn
			if allows(o.identity, req, false) {
				t.Errorf("%s: the on-call role may %s (%s on %s)", sv.region, what, req.action, req.resource)
			}
		}
	}
}
