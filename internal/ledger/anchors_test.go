package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/carohealth/platform/internal/ledger"
	"github.com/carohealth/platform/internal/ledger/ledgertest"
	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// kmsByRegion gives the local KMS for every region and records the regions asked.
func kmsByRegion(client ledger.KMSAPI, asked *[]string) ledger.KMSClients {
	return func(_ context.Context, region string) (ledger.KMSAPI, error) {
		*asked = append(*asked, region)
		return client, nil
	}
}

func TestOpenAnchorsReadsBothBucketsAfterAFailoverWithKeysFromKMS(t *testing.T) {
	ctx := context.Background()
	// GIVEN a ledger failed over from A to B: B's own bucket, its replica of A's, and a replica
	// bucket named by convention that does not exist
	f := servers.NewFailover(t, 12, 27, 11, 5)
	var asked []string
	// WHEN the anchors are opened with A's key pinned and both signing keys named (B's twice)
	a, err := ledger.OpenAnchors(ctx, ledger.AnchorsOptions{
		Buckets: []string{f.B.BucketName, f.Replica.Name, "caro-ledger-replica-none", ""}, OptionalBuckets: []string{"caro-ledger-replica-none"},
		S3: f.B.S3, Pinned: pinnedkeys.Set{ByKeyID: map[string][]byte{f.A.Signer.Key: f.A.PublicKey}},
		SigningKeys: []string{f.A.Signer.Key, f.B.Signer.Key, f.B.Signer.Key}, KMS: kmsByRegion(f.B.KMS, &asked), Region: "eu-central-1"})
	if err != nil {
		t.Fatal(err)
	}
	// THEN KMS was asked once, for B's key only, in the key's own region (its ARN's)
	if !slices.Equal(asked, []string{ledgertest.Region}) {
		t.Errorf("KMS asked in %v, want once in %s", asked, ledgertest.Region)
	}
	if a.PublicKey != nil || !bytes.Equal(a.PublicKeys[f.A.Signer.Key], f.A.PublicKey) || !bytes.Equal(a.PublicKeys[f.B.Signer.Key], f.B.PublicKey) {
		t.Errorf("keys: single %x, ring %v", a.PublicKey, a.PublicKeys)
	}
	// AND the missing optional bucket is skipped with its error, the two others read as one series
	if len(a.Skipped) != 1 || a.Skipped[0].Name != "caro-ledger-replica-none" || a.Skipped[0].Err == nil {
		t.Errorf("skipped %+v", a.Skipped)
	}
	if want := "s3://" + f.B.BucketName + ", s3://" + f.Replica.Name; a.Checkpoints.Name != want {
		t.Errorf("checkpoints from %q, want %q", a.Checkpoints.Name, want)
	}
	ring, err := ledger.NewKeyRing(a.PublicKeys)
	if err != nil {
		t.Fatal(err)
	}
	v := &ledger.Verifier{Entries: f.B.Store, Checkpoints: a.Checkpoints.Checkpoints, Locks: a.Checkpoints.Locks, PublicKeys: ring,
		RetentionYears: ledger.DefaultRetentionYears, MaxAge: 1 << 62}
	if rep, err := v.Verify(ctx, ledger.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestOpenAnchorsKeys(t *testing.T) {
	ctx := context.Background()
	env := servers.NewEnv(t)
	mustNotAsk := func(context.Context, string) (ledger.KMSAPI, error) {
		t.Error("KMS asked for a pinned key")
		return nil, errors.New("no KMS")
	}
	// GIVEN a single pinned key THEN it alone verifies: no KMS, even with signing keys named
	a, err := ledger.OpenAnchors(ctx, ledger.AnchorsOptions{Buckets: []string{env.BucketName}, S3: env.S3,
		Pinned: pinnedkeys.Set{Single: env.PublicKey}, SigningKeys: []string{env.Signer.Key}, KMS: mustNotAsk})
	if err != nil || !bytes.Equal(a.PublicKey, env.PublicKey) || a.PublicKeys != nil || a.Checkpoints.Name != "s3://"+env.BucketName {
		t.Fatalf("pinned single: %+v %v", a, err)
	}
	// GIVEN nothing pinned and one signing key THEN its key from KMS is the single key
	var asked []string
	a, err = ledger.OpenAnchors(ctx, ledger.AnchorsOptions{Buckets: []string{env.BucketName}, S3: env.S3, SigningKeys: []string{"", env.Signer.Key},
		KMS: kmsByRegion(env.KMS, &asked)})
	if err != nil || !bytes.Equal(a.PublicKey, env.PublicKey) || a.PublicKeys != nil || len(asked) != 1 {
		t.Fatalf("one signing key: %+v %v (asked %v)", a, err, asked)
	}
	// GIVEN a key KMS cannot give, named by alias THEN it is asked in the given region, and the
	// error names the key
	asked = nil
	refusing := func(_ context.Context, region string) (ledger.KMSAPI, error) {
		asked = append(asked, region)
		return env.KMS, nil
	}
	_, err = ledger.OpenAnchors(ctx, ledger.AnchorsOptions{Buckets: []string{env.BucketName}, S3: env.S3, SigningKeys: []string{"alias/none"},
		KMS: refusing, Region: "eu-central-1"})
	if err == nil || !strings.Contains(err.Error(), "fetching the ledger public key of alias/none") || !slices.Equal(asked, []string{"eu-central-1"}) {
		t.Fatalf("unknown key: %v (asked in %v)", err, asked)
	}
	// GIVEN no client for the key's region THEN that is the error
	_, err = ledger.SigningKeyPublicKey(ctx, func(context.Context, string) (ledger.KMSAPI, error) { return nil, errors.New("no credentials") },
		"", env.Signer.Key)
	if err == nil || !strings.Contains(err.Error(), "fetching the ledger public key of "+env.Signer.Key+": no credentials") {
		t.Fatalf("no client: %v", err)
	}
}
