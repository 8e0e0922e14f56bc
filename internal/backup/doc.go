// Package backup writes, lists, verifies and restores Caro's encrypted logical backups.
//
// A backup is a set of objects in an S3 bucket under backups/<id>/: one encrypted object per
// collection and a manifest. Every collection is streamed as BSON documents, compressed with zstd
// and sealed with AES-256-GCM in fixed-size chunks under a per-backup data key from AWS KMS
// (GenerateDataKey on the platform's multi-Region key, with an encryption context naming the
// backup and its source region). Each chunk's nonce and associated data bind the backup ID, the
// collection, the chunk index and a final-chunk marker, so truncation, reordering or a chunk
// swapped in from elsewhere fail authentication. The manifest is MACed under a key derived from the
// same data key. docs/backup-format.md describes the format byte by byte.
//
// Restore never touches the target's live collections until every chunk has been authenticated,
// every count and checksum matches the manifest and the indexes exist: it loads into staging
// collections, then switches collection by collection with renames that it can undo (see
// restore.go and the format document).
//
// The package talks to KMS and S3 through the small KMS and ObjectStore interfaces; NewAWSKMS and
// NewS3Store adapt the AWS SDK clients. The envelope writer and reader (SealStream, OpenStream) are
// reusable for any other secret-bearing export, such as the identity export of a failover.
package backup
