package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/carohealth/platform/constructs/roles"
)

// The ops role's permission paths: what the scheduled pipeline jobs that assume it (OPS_ROLE_ARN,
// .gitlab-ci.yml) call, each request checked on both sides, the role's identity policy and the
// bucket's or key's policy, as IAM evaluates them in one account (an Allow on either side and no
// Deny). weekly:backup-verify and the evidence jobs run `caro backup list` and `caro backup verify`
// on a region's replica backup bucket (CARO_BACKUP_BUCKET=caro-backup-replica-<account>-<region>),
// and the evidence jobs `caro audit verify` on its audit ledger (CARO_LEDGER_BUCKET,
// CARO_LEDGER_REPLICA_BUCKET, CARO_LEDGER_SIGNING_KEY_ARN). The monthly drill runs on local servers.

// opsView is the ops role and what its requests need from the app.
// (The on-call role's paths, cdk/paths_oncall_test.go, use the same view.)
type opsView struct {
	av       *appView
	arn      string
	identity []policyStatement
	// who names the role in messages ("the ops role").
	who string
}

func newOpsView(t *testing.T) *opsView {
	t.Helper()
	return newRoleView(t, "GitLab CI scheduled jobs", "the ops role")
}

// newRoleView is the view of CaroEdge's role whose description starts with description.
func newRoleView(t *testing.T, description, who string) *opsView {
	t.Helper()
	av := newAppView(t)
	edge := av.stack(t, "CaroEdge")
	id := ""
	for rid, r := range edge.tpl.Resources {
		if r.Type == "AWS::IAM::Role" && strings.HasPrefix(stringOf(r.Properties["Description"]), description) {
			id = rid
		}
	}
	if id == "" {
		t.Fatalf("no role %q in CaroEdge", description)
	}
	return &opsView{av: av, arn: edge.getAtt(id, "Arn"), identity: edge.identityStatements(id), who: who}
}

// s3Request checks one S3 request on a bucket of the app: the role allows it and the bucket policy
// does not deny it. It returns what is wrong ("" when the request is allowed).
func (o *opsView) s3Request(bucketName, action, resource string, ctx map[string][]string) string {
	sv, id := o.av.bucketNamed(bucketName)
	if sv == nil {
		return "no bucket " + bucketName + " in the app"
	}
	ctx["aws:SecureTransport"] = []string{"true"}
	req := request{principal: o.arn, action: action, resource: resource, context: ctx}
	if !allows(o.identity, req, false) {
		return fmt.Sprintf("%s's policy does not allow %s on %s", o.who, action, resource)
	}
	if decision(sv.bucketPolicy(id), req, true) == "deny" {
		return fmt.Sprintf("the policy of bucket %s denies %s %s on %s", bucketName, o.who, action, resource)
	}
	return ""
}

// bucketKey is the key (stack and logical ID) that encrypts a bucket of the app at rest.
func (o *opsView) bucketKey(bucketName string) (*stackView, string, string) {
	sv, id := o.av.bucketNamed(bucketName)
	if sv == nil {
		return nil, "", ""
	}
	key := refOf(sv.tpl.Resources[id].Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "KMSMasterKeyID")
	return sv, key, sv.keyArn(key)
}

// s3Decrypts checks that S3 may decrypt an object of the bucket for the role: kms:Decrypt through S3
// on the bucket's key, allowed by the role and by the key policy.
func (o *opsView) s3Decrypts(bucketName, object string) string {
	return o.s3Key("kms:Decrypt", bucketName, object)
}

// s3Key checks that S3 may use the bucket's key with action (kms:Decrypt to read an object,
// kms:GenerateDataKey to write one) for the role.
func (o *opsView) s3Key(action, bucketName, object string) string {
	sv, key, keyArn := o.bucketKey(bucketName)
	if key == "" {
		return "bucket " + bucketName + " names no KMS key of its stack"
	}
	bucketArn := "arn:aws:s3:::" + bucketName
	s3arn := bucketArn + "/" + object
	if bucketKeyEnabled(sv.tpl.Resources[mustBucketID(sv, bucketName)]) {
		s3arn = bucketArn // S3 Bucket Keys: the context names the bucket
	}
	req := request{principal: o.arn, action: action, resource: keyArn, context: map[string][]string{
		"kms:ViaService": {"s3." + sv.region + ".amazonaws.com"}, "kms:ResourceAliases": o.av.keyAliases[keyArn],
		"kms:EncryptionContext:aws:s3:arn": {s3arn},
	}}
	if !allows(o.identity, req, false) {
		return fmt.Sprintf("%s may not %s %s/%s through S3 with key %s", o.who, action, bucketName, object, key)
	}
	if !allows(sv.keyPolicy(key), req, true) {
		return fmt.Sprintf("the policy of key %s (bucket %s) does not let %s %s through S3", key, bucketName, o.who, action)
	}
	return ""
}

func mustBucketID(sv *stackView, name string) string {
	for id, r := range sv.tpl.Resources {
		if r.Type == "AWS::S3::Bucket" && sv.bucketName(id) == name {
			return id
		}
	}
	return ""
}

// backupKey is the multi-Region backup key of region's platform stack: its logical ID there, the
// key ID it has in every region (mrk-...), and the policy its replica in peer gets from the peer
// share (Custom::PeerShare's KeyPolicy, which internal/peershare passes to ReplicateKey).
func (o *opsView) backupKey(t *testing.T, region string) (string, string, []policyStatement) {
	t.Helper()
	sv := o.av.stack(t, "CaroPlatform-"+region)
	keyID := ""
	for id, r := range sv.tpl.Resources {
		if r.Type == "AWS::KMS::Key" && r.Properties["MultiRegion"] == true {
			keyID = id
		}
	}
	if keyID == "" {
		t.Fatalf("%s has no multi-Region backup key", sv.name)
	}
	var replicaPolicy []policyStatement
	for id, r := range sv.tpl.Resources {
		if r.Type != "Custom::PeerShare" {
			continue
		}
		sub, _ := mapOf(r.Properties["KeyPolicy"])["Fn::Sub"].(string)
		doc := strings.NewReplacer("${AWS::Partition}", "aws", "${AWS::AccountId}", testAccount).Replace(sub)
		var policy map[string]interface{}
		if err := json.Unmarshal([]byte(doc), &policy); err != nil {
			t.Fatalf("%s: the replica's key policy is not JSON: %v", id, err)
		}
		replicaPolicy = sv.docStatements(map[string]interface{}{"P": policy}, "P", id)
	}
	parts := strings.Split(sv.keyArn(keyID), "/")
	return keyID, parts[len(parts)-1], replicaPolicy
}

// TestOpsRoleListsAndVerifiesEveryRegionsBackups: in every region, `caro backup list` lists the
// replica backup bucket under backups/ and reads each manifest, and `caro backup verify` reads the
// backup's objects and unwraps its data key with the region's replica of the peer's multi-Region
// key under the backup's encryption context (internal/backup backupContext). S3 decrypts the
// objects' SSE-KMS layer with the role's permission through S3.
func TestOpsRoleListsAndVerifiesEveryRegionsBackups(t *testing.T) {
	o := newOpsView(t)
	regionsChecked := 0
	for _, sv := range o.av.stacks {
		if !strings.HasPrefix(sv.name, "CaroPlatform-") {
			continue
		}
		regionsChecked++
		region := sv.region
		peer := ""
		for _, other := range o.av.stacks {
			if strings.HasPrefix(other.name, "CaroPlatform-") && other.region != region {
				peer = other.region
			}
		}
		bucket := ReplicaBucketName(replicaBackup, testAccount, region)
		id := "20261123T020000Z-1a2b3c4d"
		var problems []string
		add := func(p string) {
			if p != "" {
				problems = append(problems, p)
			}
		}
		add(o.s3Request(bucket, "s3:ListBucket", "arn:aws:s3:::"+bucket, map[string][]string{"s3:prefix": {"backups/"}}))
		add(o.s3Request(bucket, "s3:ListBucket", "arn:aws:s3:::"+bucket, map[string][]string{"s3:prefix": {"backups/" + id + "/"}}))
		for _, object := range []string{"backups/" + id + "/manifest.json", "backups/" + id + "/plan.json", "backups/" + id + "/part-00000.bin"} {
			add(o.s3Request(bucket, "s3:GetObject", "arn:aws:s3:::"+bucket+"/"+object, map[string][]string{}))
			add(o.s3Decrypts(bucket, object))
		}
		_, mrk, replicaPolicy := o.backupKey(t, peer)
		replica := fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, testAccount, mrk)
		unwrap := request{principal: o.arn, action: "kms:Decrypt", resource: replica, context: map[string][]string{
			"kms:EncryptionContext:caro:purpose": {"backup"}, "kms:EncryptionContext:caro:backup-id": {id},
			"kms:EncryptionContext:caro:source-region": {peer}, "kms:EncryptionContextKeys": roles.BackupEncryptionContextKeys,
		}}
		if !allows(o.identity, unwrap, false) {
			add(fmt.Sprintf("the ops role may not unwrap a data key of %s's backups with the replica %s", peer, replica))
		}
		if len(replicaPolicy) == 0 || !allows(replicaPolicy, unwrap, true) {
			add(fmt.Sprintf("the policy of the replica %s does not let the ops role unwrap a backup's data key", replica))
		}
		for _, p := range problems {
			t.Errorf("%s: %s", region, p)
		}
	}
	if regionsChecked != 2 {
		t.Errorf("%d regions checked, want 2", regionsChecked)
	}
}

// TestOpsRoleVerifiesEveryRegionsAuditLedger: the evidence jobs' `caro audit verify` (run with the
// ops role) lists the ledger's checkpoint buckets (the region's own and its replica of the peer's)
// under checkpoints/ with their versions, reads each checkpoint and its Object Lock retention
// (internal/ledger CheckpointBucket), S3 decrypting them with the role's permission, and fetches
// the public key of each region's signing key (KMS GetPublicKey) to check the signatures.
func TestOpsRoleVerifiesEveryRegionsAuditLedger(t *testing.T) {
	o := newOpsView(t)
	regionsChecked := 0
	for _, sv := range o.av.stacks {
		if !strings.HasPrefix(sv.name, "CaroPlatform-") {
			continue
		}
		regionsChecked++
		var problems []string
		add := func(p string) {
			if p != "" {
				problems = append(problems, p)
			}
		}
		for _, bucket := range []string{LedgerBucketName(testAccount, sv.region), ReplicaBucketName(replicaLedger, testAccount, sv.region)} {
			add(o.s3Request(bucket, "s3:ListBucketVersions", "arn:aws:s3:::"+bucket, map[string][]string{"s3:prefix": {"checkpoints/"}}))
			object := "checkpoints/00000000000000000042.json"
			add(o.s3Request(bucket, "s3:GetObject", "arn:aws:s3:::"+bucket+"/"+object, map[string][]string{}))
			add(o.s3Request(bucket, "s3:GetObjectRetention", "arn:aws:s3:::"+bucket+"/"+object, map[string][]string{}))
			add(o.s3Decrypts(bucket, object))
		}
		signing := 0
		for id, r := range sv.tpl.Resources {
			if r.Type != "AWS::KMS::Key" || r.Properties["KeyUsage"] != "SIGN_VERIFY" {
				continue
			}
			signing++
			req := request{principal: o.arn, action: "kms:GetPublicKey", resource: sv.keyArn(id), context: map[string][]string{
				"kms:KeySpec": {stringOf(r.Properties["KeySpec"])}, "kms:KeyUsage": {"SIGN_VERIFY"},
			}}
			if !allows(o.identity, req, false) {
				add("the ops role may not fetch the public key of the ledger signing key " + id)
			}
			if !allows(sv.keyPolicy(id), req, true) {
				add("the policy of the ledger signing key " + id + " does not let the ops role fetch its public key")
			}
		}
		if signing != 1 {
			add(fmt.Sprintf("%d signing keys, want the ledger's one", signing))
		}
		for _, p := range problems {
			t.Errorf("%s: %s", sv.region, p)
		}
	}
	if regionsChecked != 2 {
		t.Errorf("%d regions checked, want 2", regionsChecked)
	}
}

// TestOpsRoleOnlyReads: the scheduled jobs read; the role may not write or delete a backup or a
// checkpoint, list or read outside the two prefixes, unwrap a data key under another purpose, sign
// with the ledger key, or read the connection strings.
func TestOpsRoleOnlyReads(t *testing.T) {
	o := newOpsView(t)
	for _, sv := range o.av.stacks {
		if !strings.HasPrefix(sv.name, "CaroPlatform-") {
			continue
		}
		backups := "arn:aws:s3:::" + ReplicaBucketName(replicaBackup, testAccount, sv.region)
		ledgerBucket := "arn:aws:s3:::" + LedgerBucketName(testAccount, sv.region)
		refused := map[string]request{
			"write a backup":           {action: "s3:PutObject", resource: backups + "/backups/x/manifest.json"},
			"delete a backup":          {action: "s3:DeleteObject", resource: backups + "/backups/x/manifest.json"},
			"read the journal":         {action: "s3:GetObject", resource: backups + "/failover/p/journal/00000000.json"},
			"list the whole bucket":    {action: "s3:ListBucket", resource: backups, context: map[string][]string{"s3:prefix": {""}}},
			"list without a prefix":    {action: "s3:ListBucket", resource: backups},
			"write a checkpoint":       {action: "s3:PutObject", resource: ledgerBucket + "/checkpoints/1.json"},
			"shorten a retention":      {action: "s3:PutObjectRetention", resource: ledgerBucket + "/checkpoints/1.json"},
			"read an old version":      {action: "s3:GetObjectVersion", resource: ledgerBucket + "/checkpoints/1.json"},
			"list other versions":      {action: "s3:ListBucketVersions", resource: ledgerBucket, context: map[string][]string{"s3:prefix": {""}}},
			"sign with the ledger key": {action: "kms:Sign", resource: fmt.Sprintf("arn:aws:kms:%s:%s:key/*", sv.region, testAccount)},
			"unwrap an identity export": {action: "kms:Decrypt", resource: fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-x", sv.region, testAccount),
				context: map[string][]string{"kms:EncryptionContext:caro:purpose": {"identity-export"}, "kms:EncryptionContext:caro:source-region": {sv.region},
					"kms:EncryptionContextKeys": roles.BackupEncryptionContextKeys}},
			"make a data key": {action: "kms:GenerateDataKey", resource: fmt.Sprintf("arn:aws:kms:%s:%s:key/mrk-x", sv.region, testAccount)},
			"read the connection string": {action: "secretsmanager:GetSecretValue",
				resource: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", sv.region, testAccount, ConnectionSecretName(sv.region))},
		}
		for what, req := range refused {
			req.principal = o.arn
			if allows(o.identity, req, false) {
				t.Errorf("%s: the ops role may %s (%s on %s)", sv.region, what, req.action, req.resource)
			}
		}
	}
}
