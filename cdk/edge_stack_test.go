package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

func edgeStackProps() *EdgeStackProps {
	return &EdgeStackProps{
		AppDomainName: "app.caro.health", APIDomainName: "api.caro.health",
		HostedZoneID: "Z0123456789ABCDEFGHIJ", HostedZoneName: "caro.health",
		AllowedCountries: []string{"NL", "DE"}, StandbyRegion: "eu-central-1",
		APIRegions: []string{"eu-west-1", "eu-central-1"}, PriceClass: "PriceClass_100",
	}
}

func TestEdgeStackWithoutAccount(t *testing.T) {
	// GIVEN no account (synth without credentials) WHEN the edge stack is built
	app := awscdk.NewApp(nil)
	stack := NewEdgeStack(app, "CaroEdge", edgeStackProps())
	nagcheck.Apply(stack)

	// THEN it is in us-east-1, replicates to the conventional standby replica, outputs what the
	// deploy pipeline needs, and is nag clean
	if got := *stack.Region(); got != "us-east-1" {
		t.Fatalf("edge stack region = %s, want us-east-1", got)
	}
	tmpl := assertions.Template_FromStack(stack, nil)
	tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"ReplicationConfiguration": assertions.Match_ObjectLike(&map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
			"Destination": assertions.Match_ObjectLike(&map[string]any{
				"Bucket": map[string]any{"Fn::Join": []any{"", []any{
					"arn:aws:s3:::caro-assets-replica-", map[string]any{"Ref": "AWS::AccountId"}, "-eu-central-1",
				}}},
			}),
		})}}),
	})
	tmpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), map[string]any{
		"DistributionConfig": assertions.Match_ObjectLike(&map[string]any{"PriceClass": "PriceClass_100"}),
	})
	for _, output := range []string{"AssetBucketName", "DistributionId", "DistributionDomainName"} {
		tmpl.HasOutput(jsii.String(output), map[string]any{"Value": assertions.Match_AnyValue()})
	}
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestEdgeStackRefusesOtherRegions(t *testing.T) {
	// GIVEN an Env in eu-west-1 THEN NewEdgeStack panics naming us-east-1
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "us-east-1") {
			t.Fatalf("want a panic naming us-east-1, got %v", r)
		}
	}()
	props := edgeStackProps()
	props.Env = &awscdk.Environment{Region: jsii.String("eu-west-1")}
	NewEdgeStack(awscdk.NewApp(nil), "CaroEdge", props)
}

func TestStandbyReplicaStackMatchesTheEdgeConvention(t *testing.T) {
	// GIVEN the standby replica stack and the edge stack of one app without an account
	app := awscdk.NewApp(nil)
	replica := NewReplicaStack(app, "CaroReplica-eu-central-1", &ReplicaStackProps{Region: "eu-central-1", RetentionYears: 9, Assets: true})
	edgeStack := NewEdgeStack(app, "CaroEdge", edgeStackProps())
	edgeStack.AddStackDependency(replica, jsii.String("S3 replication needs its destination"))
	nagcheck.Apply(replica)

	// THEN the replica is in the standby region, named as the edge stack expects, and nag clean
	if got := *replica.Region(); got != "eu-central-1" {
		t.Fatalf("replica stack region = %s", got)
	}
	tmpl := assertions.Template_FromStack(replica, nil)
	tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"BucketName": map[string]any{"Fn::Join": []any{"", []any{
			"caro-assets-replica-", map[string]any{"Ref": "AWS::AccountId"}, "-eu-central-1",
		}}},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{"AliasName": "alias/caro/assets-replica"})
	// AND it holds the locked audit-checkpoint and backup replicas under its own key
	tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"BucketName": map[string]any{"Fn::Join": []any{"", []any{
			"caro-ledger-replica-", map[string]any{"Ref": "AWS::AccountId"}, "-eu-central-1",
		}}},
		"ObjectLockEnabled": true,
		"ObjectLockConfiguration": map[string]any{"ObjectLockEnabled": "Enabled", "Rule": map[string]any{
			"DefaultRetention": map[string]any{"Mode": "COMPLIANCE", "Days": 3288},
		}},
	})
	tmpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{"AliasName": "alias/caro/replica"})
	if f := nagcheck.Findings(replica); len(f) != 0 {
		t.Fatalf("unsuppressed nag findings:\n%s", strings.Join(f, "\n"))
	}
}
