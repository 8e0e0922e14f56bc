// Package replication holds the platform's locked, replicated buckets and what it adds to S3
// cross-region replication: a replication role with a generated name (IAM names are account-wide;
// CDK's own is fixed) and exactly the permissions AWS documents for replicating SSE-KMS objects
// and their Object Lock retention, granted on keys, never on alias ARNs.
package replication
