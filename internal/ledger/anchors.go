package ledger

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carohealth/platform/internal/ledger/pinnedkeys"
)

// KMSClients returns a KMS client for a region (internal/config/awscloud's Cloud.KMS in the CLI):
// a signing key's public key is asked in the key's own region.
type KMSClients func(ctx context.Context, region string) (KMSAPI, error)

// AnchorsOptions name what anchors a ledger for a reader (verify, prove, recover): the checkpoint
// buckets and the keys their signatures are checked with.
type AnchorsOptions struct {
	// Buckets are the checkpoint buckets, read as one series (after a failover the region's own
	// bucket and its replica of the peer's). Empty names are ignored.
	Buckets []string
	// OptionalBuckets are those of Buckets that may not exist (a replica found by its conventional
	// name only): one that cannot be read is skipped (Anchors.Skipped) instead of failing the reads.
	OptionalBuckets []string
	// S3 reads the buckets.
	S3 S3API
	// Pinned are the keys the operator pinned (a single key, or a ring by key ID).
	Pinned pinnedkeys.Set
	// SigningKeys are KMS signing key ARNs whose public key KMS gives when Pinned lacks it. Empty
	// values are ignored.
	SigningKeys []string
	// KMS gives the KMS clients (only asked for keys not pinned).
	KMS KMSClients
	// Region is the KMS region of a signing key given by something other than an ARN.
	Region string
}

// Anchors are the checkpoints and the keys to verify them with. One of PublicKey (a single key)
// and PublicKeys (a ring by key ID) is set.
type Anchors struct {
	Checkpoints CheckpointSource
	// PublicKey is the single key (DER), PublicKeys the ring (DER by key ID).
	PublicKey  []byte
	PublicKeys map[string][]byte
	// Skipped are the optional buckets left out because they could not be read.
	Skipped []SkippedBucket
}

// SkippedBucket is an optional checkpoint bucket that could not be read, and why.
type SkippedBucket struct {
	Name string
	Err  error
}

// OpenAnchors resolves the verifying keys (VerifyingKeys) and the checkpoint buckets, probing each
// optional one. Its only error is a signing key whose public key KMS did not give.
func OpenAnchors(ctx context.Context, o AnchorsOptions) (*Anchors, error) {
	a := &Anchors{}
	fetch := func(ctx context.Context, arn string) ([]byte, error) {
		return SigningKeyPublicKey(ctx, o.KMS, o.Region, arn)
	}
	var err error
	if a.PublicKey, a.PublicKeys, err = VerifyingKeys(ctx, o.Pinned, nonEmpty(o.SigningKeys), fetch); err != nil {
		return nil, err
	}
	var buckets []*CheckpointBucket
	for _, name := range nonEmpty(o.Buckets) {
		b := &CheckpointBucket{Name: name, Client: o.S3}
		if slices.Contains(o.OptionalBuckets, name) {
			if err := b.Probe(ctx); err != nil {
				a.Skipped = append(a.Skipped, SkippedBucket{Name: name, Err: err})
				continue
			}
		}
		buckets = append(buckets, b)
	}
	a.Checkpoints = BucketsSource(buckets...)
	return a, nil
}

// VerifyingKeys are the keys checkpoints are verified with: a single pinned key alone; otherwise
// the pinned key ring and, for each signing key it does not pin, the key's public key from fetch.
// One fetched key and nothing pinned is a single key, as before key rings.
func VerifyingKeys(ctx context.Context, pinned pinnedkeys.Set, signingKeys []string, fetch func(ctx context.Context, arn string) ([]byte, error)) (single []byte, ring map[string][]byte, err error) {
	if pinned.Single != nil {
		return pinned.Single, nil, nil
	}
	ring = maps.Clone(pinned.ByKeyID)
	var ask []string
	for _, arn := range signingKeys {
		if _, ok := ring[arn]; !ok && !slices.Contains(ask, arn) {
			ask = append(ask, arn)
		}
	}
	for _, arn := range ask {
		der, err := fetch(ctx, arn)
		if err != nil {
			return nil, nil, err
		}
		if len(ring) == 0 && len(ask) == 1 {
			return der, nil, nil
		}
		if ring == nil {
			ring = map[string][]byte{}
		}
		ring[arn] = der
	}
	return nil, ring, nil
}

// SigningKeyPublicKey asks KMS for the public key (DER) of the signing key arn, in the key's own
// region (its ARN says which; for another value, in region).
func SigningKeyPublicKey(ctx context.Context, clients KMSClients, region, arn string) ([]byte, error) {
	if parts := strings.Split(arn, ":"); len(parts) > 3 && strings.HasPrefix(arn, "arn:") && parts[3] != "" {
		region = parts[3]
	}
	client, err := clients(ctx, region)
	if err == nil {
		var der []byte
		if der, err = (&KMSSigner{Client: client, Key: arn}).PublicKey(ctx); err == nil {
			return der, nil
		}
	}
	return nil, fmt.Errorf("fetching the ledger public key of %s: %w", arn, err)
}

// nonEmpty drops empty values (a flag given as --bucket "").
func nonEmpty(vs []string) []string {
	return slices.DeleteFunc(slices.Clone(vs), func(v string) bool { return v == "" })
}
