package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/peershare"
)

func TestOneDeployNeedsNoValueCopiedBetweenRegions(t *testing.T) {
	// GIVEN the app synthesized with no context but the account (as `cdk deploy --all` runs it)
	pa := platformApp(t)
	for _, s := range pa.Stacks() {
		// THEN no stack asks for a value from another region's deploy
		for _, m := range *assertions.Annotations_FromStack(s).FindInfo(jsii.String("*"), assertions.Match_AnyValue()) {
			if text := toJSON(t, m.Entry.Data); strings.Contains(text, "backupKeyArn") || strings.Contains(text, "ledgerPublicKeys") {
				t.Errorf("%s: %s", *s.StackName(), text)
			}
		}
	}
	av := newAppView(t)
	for _, p := range pa.Platforms {
		region := *p.Region()
		peer := "eu-central-1"
		if region == peer {
			peer = "eu-west-1"
		}
		s := av.stack(t, *p.StackName())
		// AND each platform stack hands its peer a replica of its backup key and its ledger key
		shares := 0
		for _, r := range s.tpl.Resources {
			if r.Type == "Custom::PeerShare" && r.Properties["PeerRegion"] == peer && r.Properties["ReplicateBackupKey"] == "true" {
				shares++
				if key := refOf(r.Properties, "BackupKeyArn"); s.tpl.Resources[key].Type != "AWS::KMS::Key" {
					t.Errorf("%s: the share's backup key %q is not the stack's key", s.name, key)
				}
			}
		}
		if shares != 1 {
			t.Errorf("%s: %d shares with %s, want 1", s.name, shares, peer)
		}
		// AND its audit writer reads the peer's ledger key from the parameter the peer writes here
		writer := functionByDescription(t, s.tpl, "Appends audit events")
		vars := mapOf(mapOf(s.tpl.Resources[writer].Properties["Environment"])["Variables"])
		param := peershare.ParameterLedgerKeys(peer)
		if vars[ledger.EnvPeerPublicKeysParameter] != param || vars[ledger.EnvReplicaBucket] == nil {
			t.Errorf("%s: the writer's environment %v does not name %s", s.name, vars, param)
		}
		role := refOf(s.tpl.Resources[writer].Properties, "Role")
		get := request{principal: s.getAtt(role, "Arn"), action: "ssm:GetParameter", resource: "arn:aws:ssm:" + region + ":" + testAccount + ":parameter" + param}
		if !allows(s.identityStatements(role), get, false) {
			t.Errorf("%s: the writer may not read %s", s.name, param)
		}
	}
	// AND the on-call role reads those parameters and decrypts with a tagged replica, in any region
	edge := av.stack(t, "CaroEdge")
	for id, r := range edge.tpl.Resources {
		if r.Type != "AWS::IAM::Role" || !strings.HasPrefix(stringOf(r.Properties["Description"]), "On-call failover") {
			continue
		}
		identity := edge.identityStatements(id)
		for _, region := range []string{"eu-west-1", "eu-central-1"} {
			decrypt := request{principal: edge.getAtt(id, "Arn"), action: "kms:Decrypt", resource: "arn:aws:kms:" + region + ":" + testAccount + ":key/mrk-0123",
				context: map[string][]string{"aws:ResourceTag/caro:backup-key": {"platform"}, "kms:EncryptionContext:caro:purpose": {"backup"}}}
			untagged := decrypt
			untagged.context = map[string][]string{"kms:EncryptionContext:caro:purpose": {"backup"}}
			param := request{principal: decrypt.principal, action: "ssm:GetParameter", resource: "arn:aws:ssm:" + region + ":" + testAccount + ":parameter/caro/peers/eu-west-1/backup-key-arn"}
			if !allows(identity, decrypt, false) || allows(identity, untagged, false) || !allows(identity, param, false) {
				t.Errorf("on-call in %s: tagged decrypt %v, untagged %v, parameter %v", region, allows(identity, decrypt, false), allows(identity, untagged, false), allows(identity, param, false))
			}
		}
	}
}
