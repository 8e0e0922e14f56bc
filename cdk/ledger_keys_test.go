package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

const westLedgerKey = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// ledgerKeyItem is what `caro audit public-key` prints for the eu-west-1 writer: its key ARN and a
// fresh P-256 public key, base64 DER.
func ledgerKeyItem(t *testing.T) string {
	t.Helper()
	return westLedgerKey + "=" + base64.StdEncoding.EncodeToString(ledgertest.PublicKeyDER(t))
}

func TestPeerLedgerPublicKeysFromContext(t *testing.T) {
	item := ledgerKeyItem(t)
	acct := jsii.String("123456789012")

	t.Run("GIVEN no context or no peer THEN no keys and no error", func(t *testing.T) {
		for _, peer := range []string{"", "eu-west-1"} {
			if keys, err := peerLedgerPublicKeys(peer, acct, lookup(nil)); keys != nil || err != nil {
				t.Errorf("peer %q: %v, %v", peer, keys, err)
			}
		}
	})
	t.Run("GIVEN the peer's item THEN its key is pinned", func(t *testing.T) {
		keys, err := peerLedgerPublicKeys("eu-west-1", acct, lookup(map[string]string{"eu-west-1": item}))
		if err != nil || len(keys) != 1 || keys[0].KeyArn != westLedgerKey || ledger.FormatPublicKeys(keys) != item {
			t.Errorf("%+v, %v", keys, err)
		}
	})
	for name, tc := range map[string]struct {
		value string
		acct  *string
		want  string
	}{
		"a key of another region":  {strings.Replace(item, "eu-west-1", "eu-central-1", 1), acct, "not in eu-west-1"},
		"a key of another account": {item, jsii.String("210987654321"), "not in 210987654321"},
		"the ARN alone":            {westLedgerKey, nil, "<key ARN>=<base64 DER public key>"},
		"a PEM block":              {westLedgerKey + "=-----BEGIN PUBLIC KEY-----", nil, "not base64"},
		"base64 of no key":         {westLedgerKey + "=aGVsbG8=", nil, "does not decode to a DER public key"},
	} {
		t.Run("GIVEN "+name+" THEN synth refuses naming the context key and what to pass", func(t *testing.T) {
			_, err := peerLedgerPublicKeys("eu-west-1", tc.acct, lookup(map[string]string{"eu-west-1": tc.value}))
			if err == nil || !strings.Contains(err.Error(), "context ledgerPublicKeys:eu-west-1: ") ||
				!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "caro audit public-key") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// writerEnv is the environment of the audit writer function in tpl.
func writerEnv(t *testing.T, tpl assertions.Template) map[string]interface{} {
	t.Helper()
	found := tpl.FindResources(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
		"Properties": map[string]interface{}{"Description": "Appends audit events to the ledger"},
	})
	if len(*found) != 1 {
		t.Fatalf("%d audit writer functions", len(*found))
	}
	for _, res := range *found {
		props, _ := (*res)["Properties"].(map[string]interface{})
		env, _ := props["Environment"].(map[string]interface{})
		vars, _ := env["Variables"].(map[string]interface{})
		return vars
	}
	return nil
}

// ledgerInfo are the stack's info annotations about the ledger public key context.
func ledgerInfo(stack awscdk.Stack) int {
	return len(*assertions.Annotations_FromStack(stack).FindInfo(jsii.String("*"),
		assertions.Match_StringLikeRegexp(jsii.String(ledgerPublicKeysContext))))
}

func TestWithoutLedgerKeyContextTheWriterReadsThePeersKeyFromItsParameter(t *testing.T) {
	// GIVEN the whole app without ledgerPublicKeys context WHEN the regions are synthesized
	for _, p := range platformApp(t).Platforms {
		// THEN each writer reads its replica of the peer's checkpoints with the peer's key from the
		// parameter the peer's stack writes into this region (constructs/peershare), none pinned
		vars := writerEnv(t, assertions.Template_FromStack(p.Stack, nil))
		if vars[ledger.EnvReplicaBucket] == nil || vars[ledger.EnvPeerPublicKeysParameter] == nil || vars[ledger.EnvPeerPublicKeys] != nil {
			t.Errorf("%s: writer env %v", *p.StackName(), vars)
		}
		// AND synth asks for nothing
		if ledgerInfo(p.Stack) != 0 {
			t.Errorf("%s: an info annotation asks for %s<peer>", *p.StackName(), ledgerPublicKeysContext)
		}
	}
}

func TestLedgerKeyContextPinsThePeersKeyForTheWeeklyVerify(t *testing.T) {
	// GIVEN the whole app with eu-west-1's ledger key recorded (ledgerPublicKeys:eu-west-1)
	item := ledgerKeyItem(t)
	ctx := cdkJSONContext(t)
	ctx["account"] = "123456789012"
	ctx[ledgerPublicKeysContext+"eu-west-1"] = item
	pa, err := NewPlatformApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	if err != nil {
		t.Fatal(err)
	}

	// WHEN the regions are synthesized
	for _, p := range pa.Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		vars := writerEnv(t, tpl)
		if *p.Region() == "eu-west-1" {
			// THEN the primary, whose peer's key is not recorded, reads it from its parameter
			if vars[ledger.EnvPeerPublicKeysParameter] == nil || ledgerInfo(p.Stack) != 0 {
				t.Errorf("eu-west-1: parameter %v, info %d", vars[ledger.EnvPeerPublicKeysParameter], ledgerInfo(p.Stack))
			}
			continue
		}
		// AND the standby's writer reads its replica of eu-west-1's checkpoints with the key pinned
		replica := ReplicaBucketName(replicaLedger, "123456789012", "eu-central-1")
		if vars[ledger.EnvReplicaBucket] != replica || vars[ledger.EnvPeerPublicKeys] != item {
			t.Errorf("eu-central-1 writer env: %s=%v %s=%v", ledger.EnvReplicaBucket, vars[ledger.EnvReplicaBucket], ledger.EnvPeerPublicKeys, vars[ledger.EnvPeerPublicKeys])
		}
		if ledgerInfo(p.Stack) != 0 {
			t.Errorf("eu-central-1: info annotation although the key is recorded")
		}
		// AND may list, read and decrypt exactly that replica's checkpoints, under the replica key's alias
		tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
			"PolicyDocument": map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{
				assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "ListPeerCheckpoints", "Resource": "arn:aws:s3:::" + replica}),
				assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "ReadPeerCheckpoints", "Resource": "arn:aws:s3:::" + replica + "/checkpoints/*"}),
				assertions.Match_ObjectLike(&map[string]interface{}{
					"Sid": "PeerCheckpointDecryptionViaS3", "Resource": "arn:aws:kms:eu-central-1:123456789012:key/*",
					"Condition": assertions.Match_ObjectLike(&map[string]interface{}{
						"StringEquals":             map[string]interface{}{"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
						"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/" + replicaKeyAlias},
					}),
				}),
			}},
		})
	}
	// AND every stack stays nag clean
	for _, s := range pa.Stacks() {
		if f := nagcheck.Findings(s); len(f) > 0 {
			t.Errorf("%s: unsuppressed cdk-nag findings:\n%s", *s.StackName(), strings.Join(f, "\n"))
		}
	}
}

func TestBadLedgerKeyContextFailsTheSynth(t *testing.T) {
	// GIVEN the standby's key recorded under the primary's name WHEN the app is built
	ctx := cdkJSONContext(t)
	ctx["account"] = "123456789012"
	ctx[ledgerPublicKeysContext+"eu-west-1"] = strings.Replace(ledgerKeyItem(t), "eu-west-1", "eu-central-1", 1)
	_, err := NewPlatformApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	// THEN it fails naming the context key
	if err == nil || !strings.Contains(err.Error(), "context ledgerPublicKeys:eu-west-1") {
		t.Errorf("err = %v", err)
	}
}
