package ledger_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/ledger"
	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
)

const (
	peerKeyArn     = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	replicaBucket  = "caro-ledger-replica-123456789012-eu-west-1"
	replicaKeyName = "caro/replica"
)

// writerStack is a stack in eu-west-1 with the ledger's dependencies and the writer's role.
func writerStack() (awscdk.Stack, *ledger.Props) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")},
	})
	nagcheck.Apply(stack)
	role := awsiam.NewRole(stack, jsii.String("WriterRole"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	return stack, &ledger.Props{
		Writer: awslambda.Function_FromFunctionAttributes(stack, jsii.String("Writer"), &awslambda.FunctionAttributes{
			FunctionArn: jsii.String("arn:aws:lambda:eu-west-1:123456789012:function:auditwriter"), Role: role, SameEnvironment: jsii.Bool(true),
		}),
		Key:              awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)}),
		AccessLogs:       awss3.NewBucket(stack, jsii.String("Logs"), &awss3.BucketProps{BucketName: jsii.String("caro-access-logs")}),
		BucketName:       "caro-ledger-123456789012-eu-west-1",
		ReplicaBucketArn: "arn:aws:s3:::caro-ledger-replica-123456789012-eu-central-1",
		ReplicaKeyArn:    "arn:aws:kms:eu-central-1:123456789012:alias/caro/replica",
		ReplicaRegion:    "eu-central-1",
	}
}

func TestWriterVerifiesThePeersCheckpointReplicaWithThePinnedKey(t *testing.T) {
	// GIVEN a writer in eu-west-1 and the eu-central-1 writer's public key
	stack, props := writerStack()
	der := ledgertest.PublicKeyDER(t)
	props.PeerVerification = &ledger.PeerVerification{
		ReplicaBucketName: replicaBucket, ReplicaKeyAlias: replicaKeyName,
		PeerPublicKeys: []ledger.PublicKey{{KeyArn: peerKeyArn, DER: der}},
	}

	// WHEN the ledger is created with peer verification
	l := ledger.New(stack, "Ledger", props)
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the writer gets this region's replica bucket and the pinned key, as the writer reads them
	env := l.WriterEnvironment()
	if got := *env[ledger.EnvReplicaBucket]; got != replicaBucket {
		t.Errorf("%s = %s", ledger.EnvReplicaBucket, got)
	}
	if got, want := *env[ledger.EnvPeerPublicKeys], peerKeyArn+"="+base64.StdEncoding.EncodeToString(der); got != want {
		t.Errorf("%s = %s, want %s", ledger.EnvPeerPublicKeys, got, want)
	}
	// AND a managed policy of the writer lists versions only under checkpoints/, reads checkpoints
	// and their retention, and decrypts only through S3 in this region, under the replica key's
	// alias and only for that bucket's objects
	bucketArn := "arn:aws:s3:::" + replicaBucket
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"Roles": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("WriterRole"))}},
		"PolicyDocument": map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{
			map[string]interface{}{
				"Sid": "ListPeerCheckpoints", "Effect": "Allow", "Action": "s3:ListBucketVersions", "Resource": bucketArn,
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"s3:prefix": "checkpoints/"}},
			},
			map[string]interface{}{
				"Sid": "ReadPeerCheckpoints", "Effect": "Allow", "Action": []interface{}{"s3:GetObject", "s3:GetObjectRetention"},
				"Resource": bucketArn + "/checkpoints/*",
			},
			map[string]interface{}{
				"Sid": "PeerCheckpointDecryptionViaS3", "Effect": "Allow", "Action": "kms:Decrypt",
				"Resource": "arn:aws:kms:eu-west-1:123456789012:key/*",
				"Condition": map[string]interface{}{
					"StringEquals":             map[string]interface{}{"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
					"ForAnyValue:StringEquals": map[string]interface{}{"kms:ResourceAliases": "alias/caro/replica"},
					"StringLike":               map[string]interface{}{"kms:EncryptionContext:aws:s3:arn": []interface{}{bucketArn, bucketArn + "/checkpoints/*"}},
				},
			},
		}},
	})
	// AND the writer can do nothing else there: no ListBucket, no GetObjectVersion, no writes
	if got, want := sortedJoin(writerActions(t, tpl)), "kms:Decrypt,kms:Decrypt,kms:GenerateDataKey,kms:GetPublicKey,kms:Sign,"+
		"s3:DeleteObjectVersion,s3:GetObject,s3:GetObject,s3:GetObjectRetention,s3:GetObjectRetention,s3:ListBucketVersions,s3:ListBucketVersions,s3:PutObject,s3:PutObjectRetention"; got != want {
		t.Errorf("writer actions = %s, want %s", got, want)
	}
	// AND cdk-nag (AwsSolutions, HIPAA.Security) finds nothing unsuppressed in the ledger
	if f := nagcheck.FindingsUnder(stack, "/Test/Ledger"); len(f) > 0 { // the fixture buckets are not the construct's
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestWithoutPeerVerificationTheWriterChecksItsOwnBucketOnly(t *testing.T) {
	// GIVEN a writer WHEN the ledger is created without peer verification
	stack, props := writerStack()
	l := ledger.New(stack, "Ledger", props)
	tpl := assertions.Template_FromStack(stack, nil)

	// THEN the writer gets neither variable and no replica read
	env := l.WriterEnvironment()
	for _, k := range []string{ledger.EnvReplicaBucket, ledger.EnvPeerPublicKeys} {
		if _, ok := env[k]; ok {
			t.Errorf("%s set without peer verification", k)
		}
	}
	if l.PeerVerifyPolicy != nil {
		t.Errorf("PeerVerifyPolicy created without peer verification")
	}
	if got := sortedJoin(writerActions(t, tpl)); strings.Count(got, "s3:ListBucketVersions") != 1 || strings.Count(got, "s3:GetObjectRetention") != 1 {
		t.Errorf("writer actions = %s: it lists and reads the locks of its own bucket only", got)
	}
	if f := nagcheck.FindingsUnder(stack, "/Test/Ledger"); len(f) > 0 { // the fixture buckets are not the construct's
		t.Errorf("unsuppressed cdk-nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestNewRefusesAnUnusablePeerVerification(t *testing.T) {
	der := ledgertest.PublicKeyDER(t)
	good := func() *ledger.PeerVerification {
		return &ledger.PeerVerification{ReplicaBucketName: replicaBucket, ReplicaKeyAlias: replicaKeyName,
			PeerPublicKeys: []ledger.PublicKey{{KeyArn: peerKeyArn, DER: der}}}
	}
	stack, props := writerStack()
	for name, tc := range map[string]struct {
		edit func(*ledger.PeerVerification)
		want string
	}{
		"no bucket":        {func(p *ledger.PeerVerification) { p.ReplicaBucketName = "" }, "ReplicaBucketName"},
		"a bucket ARN":     {func(p *ledger.PeerVerification) { p.ReplicaBucketName = "arn:aws:s3:::" + replicaBucket }, "ReplicaBucketName"},
		"an alias/ prefix": {func(p *ledger.PeerVerification) { p.ReplicaKeyAlias = "alias/caro/replica" }, "ReplicaKeyAlias"},
		"no key":           {func(p *ledger.PeerVerification) { p.PeerPublicKeys = nil }, "needs PeerPublicKeys"},
		"an alias key ARN": {func(p *ledger.PeerVerification) {
			p.PeerPublicKeys[0].KeyArn = "arn:aws:kms:eu-central-1:123456789012:alias/x"
		}, "not an exact KMS key ARN"},
		"not a public key": {func(p *ledger.PeerVerification) { p.PeerPublicKeys[0].DER = []byte("nope") }, peerKeyArn},
		"a wildcard key ID": {func(p *ledger.PeerVerification) {
			p.PeerPublicKeys[0].KeyArn = "arn:aws:kms:eu-central-1:123456789012:key/*"
		}, "not an exact"},
	} {
		t.Run("GIVEN "+name+" THEN New panics saying what to fix", func(t *testing.T) {
			pv := good()
			tc.edit(pv)
			p := *props
			p.PeerVerification = pv
			msg := func() (msg string) {
				defer func() { msg = fmt.Sprint(recover()) }()
				ledger.New(stack, "Ledger"+strings.ReplaceAll(name, " ", ""), &p)
				return ""
			}()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q, want it to name %q", msg, tc.want)
			}
		})
	}
}

func TestParsePublicKeys(t *testing.T) {
	der, der2 := ledgertest.PublicKeyDER(t), ledgertest.PublicKeyDER(t)
	b64, b642 := base64.StdEncoding.EncodeToString(der), base64.StdEncoding.EncodeToString(der2)
	second := "arn:aws:kms:eu-central-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef"

	t.Run("GIVEN the items caro audit public-key prints THEN they parse and format back", func(t *testing.T) {
		v := peerKeyArn + "=" + b64 + " , " + second + "=" + b642
		keys, err := ledger.ParsePublicKeys(v, "eu-central-1", "123456789012")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].KeyArn != peerKeyArn || string(keys[1].DER) != string(der2) {
			t.Errorf("keys %+v", keys)
		}
		if got := ledger.FormatPublicKeys(keys); got != peerKeyArn+"="+b64+","+second+"="+b642 {
			t.Errorf("formatted %s", got)
		}
	})
	t.Run("GIVEN no account to check THEN any account is accepted", func(t *testing.T) {
		if _, err := ledger.ParsePublicKeys(peerKeyArn+"="+b64, "eu-central-1", ""); err != nil {
			t.Error(err)
		}
	})
	for name, tc := range map[string]struct{ value, want string }{
		"empty":               {" , ", "no key given"},
		"no equals sign":      {peerKeyArn, "is not <key ARN>=<base64 DER public key>"},
		"a key in the region": {strings.Replace(peerKeyArn, "eu-central-1", "eu-west-1", 1) + "=" + b64, "is in eu-west-1, not in eu-central-1"},
		"another account":     {strings.Replace(peerKeyArn, "123456789012", "210987654321", 1) + "=" + b64, "account 210987654321"},
		"an alias ARN":        {"arn:aws:kms:eu-central-1:123456789012:alias/caro/ledger=" + b64, "is not a KMS key ARN"},
		"a key ID":            {"1234abcd-12ab-34cd-56ef-1234567890ab=" + b64, "is not a KMS key ARN"},
		"not base64":          {peerKeyArn + "=not*base64", "not base64"},
		"PEM armor":           {peerKeyArn + "=-----BEGIN PUBLIC KEY-----", "not base64"},
		"not a DER key":       {peerKeyArn + "=" + base64.StdEncoding.EncodeToString([]byte("hello")), "does not decode to a DER public key"},
		"the same key twice":  {peerKeyArn + "=" + b64 + "," + peerKeyArn + "=" + b64, "given twice"},
	} {
		t.Run("GIVEN "+name+" THEN it is refused saying why", func(t *testing.T) {
			_, err := ledger.ParsePublicKeys(tc.value, "eu-central-1", "123456789012")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// writerActions are the actions of every policy attached to the writer's role.
func writerActions(t *testing.T, tpl assertions.Template) []string {
	t.Helper()
	var out []string
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		found := tpl.FindResources(jsii.String(typ), map[string]interface{}{
			"Properties": map[string]interface{}{"Roles": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("WriterRole"))}}},
		})
		for _, res := range *found {
			props, _ := (*res)["Properties"].(map[string]interface{})
			doc, _ := props["PolicyDocument"].(map[string]interface{})
			statements, _ := doc["Statement"].([]interface{})
			for _, s := range statements {
				switch a := s.(map[string]interface{})["Action"].(type) {
				case string:
					out = append(out, a)
				case []interface{}:
					for _, x := range a {
						out = append(out, x.(string))
					}
				}
			}
		}
	}
	return out
}
