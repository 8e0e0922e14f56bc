package peershare_test

import (
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
	"github.com/carohealth/platform/constructs/peershare"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestShareReplicatesTheBackupKeyIntoThePeerWithExactlyWhatThatTakes(t *testing.T) {
	// GIVEN the primary's stack with its backup key, signing key and the share's function
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Primary"), &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}})
	nagcheck.Apply(stack)
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	fn := awslambda.NewFunction(stack, jsii.String("Fn"), &awslambda.FunctionProps{Runtime: awslambda.Runtime_NODEJS_22_X(), Handler: jsii.String("index.handler"),
		Code: awslambda.Code_FromInline(jsii.String("exports.handler = async () => {}")), Role: role})
	signing := awskms.NewKey(stack, jsii.String("Signing"), &awskms.KeyProps{KeySpec: awskms.KeySpec_ECC_NIST_P256, KeyUsage: awskms.KeyUsage_SIGN_VERIFY})
	// WHEN the share with eu-central-1 is declared
	peershare.New(stack, "PeerShare", &peershare.Props{Function: fn, Region: "eu-west-1", PeerRegion: "eu-central-1",
		BackupKeyArn: jsii.String("arn:aws:kms:eu-west-1:123456789012:key/mrk-1111"), SigningKey: signing, ReplicateBackupKey: true})
	tpl := assertions.Template_FromStack(stack, nil)
	// THEN the custom resource names both keys and the peer, waiting for its policy
	tpl.HasResource(jsii.String("Custom::PeerShare"), map[string]interface{}{
		"Properties": assertions.Match_ObjectLike(&map[string]interface{}{"Region": "eu-west-1", "PeerRegion": "eu-central-1",
			"BackupKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1111", "ReplicateBackupKey": "true", "TagKey": peershare.BackupKeyTagKey}),
		"DependsOn": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_StringLikeRegexp(jsii.String("^PeerSharePolicy"))}),
	})
	// AND the function may replicate only that key, create keys only in the peer region, and write
	// only this region's parameters there
	tpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]interface{}{
		"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{"Statement": assertions.Match_ArrayWith(&[]interface{}{
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "WritePeerParameters", "Resource": "arn:aws:ssm:eu-central-1:123456789012:parameter/caro/peers/eu-west-1/*"}),
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "ReplicateBackupKey", "Action": "kms:ReplicateKey", "Resource": "arn:aws:kms:eu-west-1:123456789012:key/mrk-1111"}),
			assertions.Match_ObjectLike(&map[string]interface{}{"Sid": "CreateReplicaInPeer", "Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"aws:RequestedRegion": "eu-central-1"}}}),
		})}),
	})
	if f := nagcheck.FindingsUnder(stack, "/Primary/PeerShare"); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}
