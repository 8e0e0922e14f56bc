package objstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/carohealth/platform/internal/localstack"
)

func TestS3StoreAgainstLocalS3(t *testing.T) {
	ctx := context.Background()
	srv := localstack.StartS3ForTest(t, "objstore-test")
	c := s3.NewFromConfig(localstack.AWSConfig("eu-west-1", srv.Endpoint()), func(o *s3.Options) { o.UsePathStyle = true })
	st := NewS3(c, "objstore-test", "")
	for _, k := range []string{"a/1.json", "a/2.json", "b/1.json"} {
		if err := st.Put(ctx, k, strings.NewReader("x-"+k), int64(len("x-"+k))); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := st.Get(ctx, "a/2.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "x-a/2.json" {
		t.Fatalf("get %q", b)
	}
	l, err := st.List(ctx, "a/")
	if err != nil || len(l) != 2 || l[0].Key != "a/1.json" || l[0].Size != 10 {
		t.Fatalf("list %+v %v", l, err)
	}
	if _, err := st.Get(ctx, "a/3.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := NewS3(c, "no-such-bucket", "").List(ctx, "a/"); err == nil || !strings.Contains(err.Error(), "s3://no-such-bucket/a/") {
		t.Fatalf("missing bucket: %v", err)
	}
}
