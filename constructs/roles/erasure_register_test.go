package roles_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/carohealth/platform/constructs/nagcheck"
)

func TestOnCallReadsTheOwnErasureRegister(t *testing.T) {
	// GIVEN the platform regions' own backup buckets (generated names: per-region patterns),
	// encrypted with the multi-Region backup key
	p := props()
	p.ErasureRegisterBucketArns = []string{"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*", "arn:aws:s3:::caroplatform-eu-central-1-backupsbucket*"}
	p.ErasureRegisterKeyAlias = "caro/backup"

	// WHEN the roles are synthesized
	stack, tmpl := synth(t, p)

	// THEN the on-call role lists them only under erasures/ and reads only erasures/*
	onCall := func(statement map[string]any) {
		t.Helper()
		tmpl.HasResourceProperties(jsii.String("AWS::IAM::ManagedPolicy"), map[string]any{
			"Description":    "Only the calls of the failover steps, on the platform's own resources",
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{statement})},
		})
	}
	onCall(map[string]any{
		"Sid": "ListErasureRegister", "Effect": "Allow", "Action": "s3:ListBucket",
		"Resource":  []any{"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*", "arn:aws:s3:::caroplatform-eu-central-1-backupsbucket*"},
		"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": "erasures/*"}},
	})
	onCall(map[string]any{
		"Sid": "ReadErasureRegister", "Effect": "Allow", "Action": "s3:GetObject",
		"Resource": []any{"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*/erasures/*", "arn:aws:s3:::caroplatform-eu-central-1-backupsbucket*/erasures/*"},
	})
	// AND decrypts only through S3 in the platform regions, only with the backup key's alias, and
	// only for objects of those buckets
	onCall(map[string]any{
		"Sid": "ErasureRegisterDecryptionViaS3", "Effect": "Allow", "Action": "kms:Decrypt",
		"Resource": []any{"arn:aws:kms:eu-west-1:111111111111:key/*", "arn:aws:kms:eu-central-1:111111111111:key/*"},
		"Condition": map[string]any{
			"StringEquals":             map[string]any{"kms:ViaService": []any{"s3.eu-west-1.amazonaws.com", "s3.eu-central-1.amazonaws.com"}},
			"ForAnyValue:StringEquals": map[string]any{"kms:ResourceAliases": "alias/caro/backup"},
			"StringLike": map[string]any{"kms:EncryptionContext:aws:s3:arn": []any{
				"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*",
				"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*/erasures/*",
				"arn:aws:s3:::caroplatform-eu-central-1-backupsbucket*",
				"arn:aws:s3:::caroplatform-eu-central-1-backupsbucket*/erasures/*",
			}},
		},
	})
	// AND nothing else touches the own backup buckets (no write, no backups/, no plain listing)
	for _, st := range policyStatements(t, tmpl, "RolesOnCallFailoverPolicy") {
		if !strings.Contains(strings.Join(strs(st["Resource"]), ","), "backupsbucket") {
			continue
		}
		switch st["Sid"] {
		case "ListErasureRegister", "ReadErasureRegister":
		default:
			t.Errorf("statement %v also grants on the own backup buckets: %v", st["Sid"], st["Action"])
		}
	}
	// AND cdk-nag stays clean
	if f := nagcheck.Findings(stack); len(f) != 0 {
		t.Errorf("nag findings:\n%s", strings.Join(f, "\n"))
	}
}

func TestOnCallErasureRegisterNeedsTheKeyAlias(t *testing.T) {
	// GIVEN own backup buckets with no exact key alias WHEN validated THEN refused
	for _, alias := range []string{"", "alias/caro/backup", "caro/*"} {
		p := props()
		p.ErasureRegisterBucketArns = []string{"arn:aws:s3:::caroplatform-eu-west-1-backupsbucket*"}
		p.ErasureRegisterKeyAlias = alias
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "ErasureRegisterKeyAlias") {
			t.Errorf("alias %q: %v", alias, err)
		}
	}
}
