package localstack_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/carohealth/platform/internal/localstack"
)

func s3Client(endpoint string) *s3.Client {
	return s3.NewFromConfig(localstack.AWSConfig("eu-west-1", endpoint), func(o *s3.Options) { o.UsePathStyle = true })
}

func TestS3PutGet(t *testing.T) {
	// GIVEN the package's S3 with bucket caro-test
	ctx := context.Background()
	client := s3Client(s3Srv.Endpoint())

	// WHEN an object is put
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: new("caro-test"), Key: new("exports/p1.json"), Body: strings.NewReader(`{"id":"p1"}`),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	// THEN it reads back
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: new("caro-test"), Key: new("exports/p1.json")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	body, _ := io.ReadAll(out.Body)
	if string(body) != `{"id":"p1"}` {
		t.Fatalf("body = %q", body)
	}
}

func TestS3Versioning(t *testing.T) {
	// GIVEN a versioned bucket
	ctx := context.Background()
	s := localstack.StartS3ForTest(t, "versioned")
	client := s3Client(s.Endpoint())
	_, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  new("versioned"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("PutBucketVersioning: %v", err)
	}

	// WHEN a key is written twice
	for _, v := range []string{"one", "two"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: new("versioned"), Key: new("k"), Body: strings.NewReader(v)}); err != nil {
			t.Fatalf("PutObject %s: %v", v, err)
		}
	}

	// THEN both versions are listed
	list, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: new("versioned")})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	if len(list.Versions) != 2 {
		t.Fatalf("versions = %d, want 2", len(list.Versions))
	}
}

func TestS3RejectsUnsupportedSubresources(t *testing.T) {
	// GIVEN an object
	ctx := context.Background()
	client := s3Client(s3Srv.Endpoint())
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: new("caro-test"), Key: new("tagged"), Body: strings.NewReader("data")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	// WHEN tags are put (gofakes3 has no tagging; it would overwrite the object)
	_, err := client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: new("caro-test"), Key: new("tagged"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: new("a"), Value: new("b")}}},
	})

	// THEN the call fails with NotImplemented and the object is untouched
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotImplemented" {
		t.Fatalf("PutObjectTagging err = %v, want NotImplemented", err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: new("caro-test"), Key: new("tagged")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	if body, _ := io.ReadAll(out.Body); string(body) != "data" {
		t.Fatalf("object became %q", body)
	}

	// AND Object Lock is refused too
	_, err = client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: new("caro-test")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotImplemented" {
		t.Fatalf("GetObjectLockConfiguration err = %v, want NotImplemented", err)
	}
}

func TestS3StopFreesPort(t *testing.T) {
	s, err := localstack.StartS3()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("Bad_Name"); err == nil {
		t.Error("CreateBucket(Bad_Name) succeeded, want a validation error")
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	assertPortFree(t, s.Addr())
}
