// Package ledger is Caro's audit ledger, the replacement for AWS QLDB: an append-only, hash-chained
// log of audit.Event records in MongoDB, anchored by signed Merkle checkpoints kept outside the
// database in an S3 bucket with Object Lock in compliance mode.
//
// # Entries
//
// Entry n (n = 0, 1, 2, ...) is stored as one MongoDB document
//
//	{_id: "<n, 20 digits>", eventId: <event ID>, prevHash: <hex>, hash: <hex>, event: {...audit.Event...}}
//
// The sequence number (zero-padded, see EntryDocID) is the document _id, so MongoDB's mandatory unique _id index is the unique
// index on seq; eventId has its own unique index, so an event delivered twice yields one entry.
// Appends use no transaction and, normally, no read of the entries (on FerretDB every query of
// them scans the collection). They are group-committed (AppendBatch): the appends waiting in a
// process are drained by one goroutine into one ordered insertMany of entries head+1, head+2, ...,
// each chained to the one before, and each caller gets its own entries back. An ordered insert
// stops at the first document a unique index refuses: a refused _id means another writer took
// that number (re-read the head, retry the rest), a refused event ID a redelivery (its earlier
// entry is the result; the rest chains on). The head is the one this process last wrote, else
// the shared hint in HeadCollection (one point read of a one-document collection, checked against
// the entry it names), else a query. Two writers can never both own n+1, and nobody can insert
// n+2 before n+1 exists because n+2's prevHash is that of n+1 (in the same ordered insert, or
// read): the chain stays gap-free and fork-free under any concurrency. The audit writer appends
// each delivery's records as one batch; the checkpointer anchors the entries this process just
// wrote from memory (EntryCache) and reads only others'.
//
// # Canonical encoding (version 1)
//
// Every hashed or signed structure is a sequence of fields, each written as a 4-byte big-endian
// length followed by that many bytes, in a fixed order, starting with a domain tag. Integers are
// 8-byte big-endian; hashes are their 32 raw bytes; strings are their UTF-8 bytes unchanged; times are
// Unix milliseconds (MongoDB keeps milliseconds, so Append truncates Event.Time to milliseconds
// before hashing). Length prefixes make the encoding injective: no two different entries encode to
// the same bytes, whatever their strings contain. The entry encoding is
//
//	"caro.ledger.entry.v1", seq, prevHash, id, time, actor, tenantId, action, resourceType,
//	resourceId, subjectRef, interface, requestId, beforeHash, afterHash
//
// and the entry hash is the RFC 6962 leaf hash SHA-256(0x00 || encoding). The same value links the
// chain (the next entry's prevHash; entry 0 has 32 zero bytes) and is the Merkle leaf, so one hash per
// entry serves both. A test fails when audit.Event gains a field the encoding does not cover.
//
// # Checkpoints
//
// A checkpoint anchors the whole log so far: its RootHash is the RFC 6962 Merkle tree head over
// leaves 0..TreeSize-1 (whole-log trees make an inclusion proof a single standard RFC 9162 proof
// against one signed root, and let any later checkpoint prove any earlier entry). It also carries the
// leaf hashes of the entries added since the previous checkpoint (so the verifier names the exact
// entry that was altered even when an attacker rewrote and rehashed the chain after it), the compact
// range of the tree (so verification can start at any checkpoint without replaying the log from 0),
// and the hash of the previous checkpoint's encoding. The checkpoint encoding is
//
//	"caro.ledger.checkpoint.v1", number, firstSeq, treeSize, rootHash, prevCheckpointHash, time,
//	keyId, algorithm, leafHashes (concatenated), compactRange (concatenated)
//
// Its SHA-256 is signed by a KMS asymmetric key (ECDSA_SHA_256 over the digest) and is the link the
// next checkpoint carries. A checkpoint is cut when Interval entries have accumulated or MaxAge has
// passed since the oldest unanchored entry's event time, and never covers more than MaxLeaves entries. It is stored as JSON
// at checkpoints/<number, 20 digits>.json with Object Lock mode COMPLIANCE and a retain-until date of
// its time plus the retention period (9 years by default).
//
// # Checkpoints as signed notes (version 2)
//
// Checkpoints written now are version 2: the encoding above with the tag
// "caro.ledger.checkpoint.v2" and the log's origin after it, and the signature is over the
// SHA-256 of a C2SP tlog-checkpoint note (c2sp.org/tlog-checkpoint, c2sp.org/signed-note):
//
//	<origin>\n<tree size>\n<base64 root hash>\ncaro.ledger.checkpoint.v2 <base64 SHA-256(encoding)>\n
//
// so one signature covers the standard tree head and every Caro field. The object's "note" field
// is that note with its signature line ("— <origin> " and the base64 of the 4-byte key hash,
// SHA-256 of the DER public key, and the ECDSA signature: signature type 0x02), readable by tlog
// tooling and witnesses as it is; verification checks it follows from the fields. The digest the
// next checkpoint links to is SHA-256 of the note text. Version 1 checkpoints (signed over
// SHA-256 of their encoding) verify as before and a version 2 checkpoint links to one by its
// digest: no migration.
//
// # Incremental verification
//
// A verification that found nothing wrong is recorded (RecordVerification, by the audit writer's
// weekly run, whose key signs it) as a VerificationRecord at checkpoints/verified/<number>.json,
// under Object Lock like the checkpoints: the checkpoint proven, its tree head and digest, the
// tree head it started from and the RFC 9162 consistency proof between the two. An incremental
// verification (VerifyOptions.Incremental; caro audit verify's default) reads the newest record,
// checks its signature and consistency proof, that the bucket's checkpoint of that number is the
// one it names (digest, signature, root of its compact range, Object Lock), that the entry it
// ends at is still stored as anchored, then every newer checkpoint chained from it and the
// entries after it; the consistency proof to the newest checkpoint is built from the compact
// range and the new leaf hashes as they stream past. It does not re-check entries the record
// covers: a full pass (caro audit verify --full) does. A Deadline stops it at a checkpoint boundary
// (Partial) so the writer's run ends inside its Lambda limit and the next continues.
//
// # Entries in checkpoint objects
//
// Since checkpoint objects are the only copy of the ledger outside the database, each object also
// carries the entries it anchors, FirstSeq..TreeSize-1, in the JSON field "entries": each as stored
// (seq, eventId, prevHash, hash, event). They are not part of the signed encoding above (which is
// unchanged, still version 1): each carried entry is authenticated by its leaf hash, which is
// signed, and Checkpoint.CheckEntries checks that every entry recomputes to its leaf hash and links
// to the one before. Objects written before this change have no "entries" field and are read and
// verified as before; only Recover needs the entries. The database's checkpoint records
// (ledger_checkpoints) leave them out, the entries collection has them; when a run publishes a
// recorded checkpoint a crash left unpublished, it reads them back from the entries collection.
// The bucket's listing (what Verify and Prove read) stops reading each object at "entries", its
// last field, so verification reads and parses about what it did before. Recover reads the
// entries one checkpoint at a time (CheckpointEntries), so memory holds one checkpoint's entries
// however long the ledger is.
//
// Size: an entry is about 720 bytes of JSON (IDs, three hex digests), so an object grows from about
// 68 KB to 0.8 MB at the default Interval of 1000 entries and is at most about 3.2 MB at the
// default MaxLeaves of 4096 (from 275 KB); checkpoints cut by MaxAge are smaller. Each object is
// written once and kept for the retention period: storage grows by about the size of the entries.
//
// # Recovery after a database restore
//
// The ledger lives in the application's database, so restoring a backup or snapshot rolls it back
// to the backup's time while the bucket keeps the checkpoints cut since. Recover (caro audit
// recover) reads the checkpoints from a bucket (the region's own, or the peer region's replica
// during an outage, or both merged when a failover split them, see below), and runs the verifier with the anchored entries the database lacks taken from
// the checkpoints in their places: the tail the restore removed, and any gap that a writer which
// cached the pre-restore head left before the entries it appended. Only if that verifies does it
// insert them (each has been checked like a stored entry: its hash, its signed leaf hash, its link
// to the entry before) and the missing checkpoint records, so the checkpointer continues with the
// next number. It writes nothing when the stored ledger diverges from the checkpoints. Entries appended after
// the last checkpoint are in no checkpoint and cannot be recovered: at most MaxAge (5 minutes by
// default) or Interval entries, whichever comes first, of audit records before the failure.
//
// # The ledger hold
//
// Recover can only put the rolled-back entries back if nothing was appended to the restored
// ledger first: an entry appended at the restored head + 1 has another hash than the anchored
// one, and Recover then refuses with ErrDiverged for good. Between the restore's switch and the
// recovery, the restore's own audit events, the reconciler publishing events pending in the
// restored database, and the scheduled checkpointer would all do that. So a restore places the
// ledger hold, one document {_id: "hold", backupId, time, reason} in HoldCollection
// (_caro_ledger_hold; the backup's reserved prefix, so no backup copies it and no restore switch
// moves it), before the data goes live: the logical restore (internal/backup) right before its
// switch, when the backup or the target holds a ledger (ledger_entries; a database that had no
// ledger before and gets none is not held); an Atlas snapshot restore right after its job
// finished, before anything else, when the restored database holds a ledger (HoldIfLedger).
// While it exists, Append writes nothing and returns ErrLedgerHeld, a retryable error (the audit
// writer fails the message: SNS/Lambda retry it, then the dead-letter queue keeps it and alarms;
// redrive it after the recovery), and the Checkpointer cuts nothing (ErrLedgerHeld). The check is
// one point read by _id per append. Recover removes the hold when it completed with every
// checkpoint verified, and only then; when it refuses, cannot run (old-format checkpoints, no
// pinned key) or a later checkpoint does not verify, the hold stays and the message says so.
// caro audit release-hold removes it without recovery, writing nothing else, for when recovery is
// impossible: appends from then on may fork from the anchored checkpoints. The hold document is
// the only thing this package deletes; it is not part of the ledger.
//
// # Failover: two buckets, two keys
//
// Each region has its own checkpoint bucket and its own KMS signing key, and S3 replicates each
// bucket into the peer region's replica bucket (caro-ledger-replica-<account>-<region>). After a
// failover, the standby's writer continues the recovered ledger's numbering (its checkpoint
// records were restored by Recover) into its own bucket with its own key, so the history is split:
// checkpoints 0..k signed by the old primary's key in the standby's replica of its bucket, k+1..
// signed by the standby's key in the standby's own bucket (and again after a failback).
// Verification therefore takes
//
//   - a KeyRing, the pinned public keys by key ID (the KMS key ARN a checkpoint names in KeyID):
//     each checkpoint is verified with the key its KeyID names, and one naming a key outside the
//     ring is refused. Verifier.PublicKey, one key for any KeyID, stays for one-region ledgers; the
//     ring replaces it when set (Verifier, Recover, Prover);
//   - MergedCheckpoints, several buckets read as one series ordered by number. A number held by
//     more than one bucket (a replica beside its source) must have the same signed encoding and
//     signature in each, otherwise that checkpoint is the verifier's problem (ErrCheckpointConflict:
//     two writers cut it, a split brain, or a copy was altered); a copy that is unreadable or was
//     written over in one bucket is a problem even if another copy is sound; every copy's Object
//     Lock is checked (the weakest counts); a number in no bucket stays a "missing" problem.
//
// The chain of checkpoints (each carries the previous one's digest) runs across the buckets and
// keys unchanged, so splicing in a checkpoint from elsewhere breaks it like any other alteration.
// caro audit verify, prove and recover take --bucket and --signing-key (or --public-key
// KEYID=FILE) repeated; the writer's scheduled verify reads CARO_LEDGER_REPLICA_BUCKET and the
// pinned CARO_LEDGER_PEER_PUBLIC_KEYS (package writer). A standby whose database holds no ledger
// at all checks its own bucket only (the peer's checkpoints anchor the peer's database, not its
// empty one); a standby still holding the stale ledger a failback left behind reports the entries
// it lacks, as it did before this change (caro audit recover against it, with both buckets and
// keys, fills them in unless it holds entries no checkpoint anchored: then it refuses).
//
// # Personal data
//
// Entries carry no personal data: the subject is the keyed hash audit.Event.SubjectRef (erasing the
// subject destroys its key, which changes no stored byte, so every hash keeps verifying), and
// CheckNoPersonalData refuses events whose fields could carry free text (see its doc).
//
// # What verification proves, and the unanchored window
//
// Tampering is detectable only for anchored entries: the signed checkpoints in the Object Lock
// bucket are what an attacker with write access to the database cannot redo. Entries appended
// after the newest checkpoint (normally at most MaxAge, 5 minutes, or Interval entries, before the
// next run cuts one) are protected by the hash chain alone, which such an attacker can recompute:
// they can be deleted or rewritten undetectably until a checkpoint anchors them. Verify reports
// them as not yet anchored, and as a finding once the oldest is older than MaxAge plus the
// writer's checkpoint schedule (DefaultCheckpointSchedule): they should have been anchored by
// then, so either the checkpointer stopped or the checkpoints anchoring them were removed. The
// same window applies to the database's checkpoint records (ledger_checkpoints): each must be the
// signed checkpoint the bucket holds under its number, and a record the bucket lacks is a finding
// once older than that window (the bucket's newest objects removed after their retention or
// without Object Lock, or a replica that lags); younger, it is a writer between recording and
// publishing it. An attacker who removes a checkpoint object and its record and rewrites the
// event times of the tail to look recent is inside this window by construction.
//
// # Stored form
//
// The entry hash covers the event's values, not how they are stored, so the verifier reads each
// entry document strictly (decodeStoredEntry): exactly the fields Append writes, each of the BSON
// type it writes, hashes as 64 lowercase hex digits. A field added beside them, a value of another
// type (a time stored as a string, a hash as an integer), a missing field or an upper-case hash is
// an altered entry, named as the first bad one (exit 2), never "could not read" (exit 1 stays for
// an unreachable database or bucket). Checkpoint objects, the database's checkpoint records and
// inclusion proofs are JSON read the same way (decodeStrictJSON): exact field names in their
// letter case, no unknown or repeated field, lowercase hex. Point reads (Append's head, Prove)
// refuse a malformed entry with ErrMalformedEntry.
//
// # Deletion
//
// Entries and checkpoints are only inserted; the one deletion is the retirement of whole yearly
// segments whose retention has ended (segment.go, retire.go; a test greps that retire.go deletes
// nothing else). When a UTC year is over, the writer seals its segment: a signed Seal at
// checkpoints/seals/<year>.json names the segment's first checkpoint and carries its final one.
// Once the final checkpoint is older than the retention period (every lock of the segment and of
// the ones before has ended), verification starts from the newest such seal: its final checkpoint
// is the base (signature and compact range checked), the next checkpoint must chain from it, and
// nothing before it is read. Retire (the writer's {"mode":"retire"}, daily) then deletes the
// segment's checkpoint objects and verification records (every version; Object Lock refuses any
// still locked) and its entries and checkpoint records in the database. A segment missing while
// its retention runs (at the start or in the middle) breaks the chain from the base: a finding.
//
// # Tests
//
// Tests run on FerretDB, local-kms and gofakes3 (see ledgertest). gofakes3 has no Object Lock:
// ledgertest.ObjectLockShim, in front of it, records the lock headers of each PUT, answers
// GetObjectRetention, and refuses deleting or overwriting a retained object; the verifier reads
// retention through the RetentionInspector interface, which in AWS is S3 GetObjectRetention.
package ledger
