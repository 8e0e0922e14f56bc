package main

import (
	"context"
	"fmt"
	"io"

	"github.com/carohealth/platform/internal/backup"
	"github.com/carohealth/platform/internal/erasure"
)

// envBackupReplicaBucket names the region's replica of the peer region's backup bucket
// (caro-backup-replica-<account>-<region>), whose erasures/ the peer's API recorded. It is the
// default second register bucket of `caro backup restore`/`atlas-restore` (--erasure-bucket) and
// of `caro gdpr reapply` (--bucket).
const envBackupReplicaBucket = "CARO_BACKUP_REPLICA_BUCKET"

// registerBuckets are the buckets whose erasure registers are read as one: --bucket first, then
// every --erasure-bucket (or further --bucket) not already named.
func (f *backupFlags) registerBuckets() []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range append([]string{f.bucket}, f.erasureBuckets...) {
		if b != "" && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// erasureStores opens the object store of every register bucket (through backupClients, so tests
// point them at local S3) and returns them with their s3:// names.
func erasureStores(ctx context.Context, f *backupFlags) ([]backup.ObjectStore, []string, error) {
	var stores []backup.ObjectStore
	var names []string
	for _, b := range f.registerBuckets() {
		g := *f
		g.bucket = b
		s, _, err := backupClients(ctx, &g)
		if err != nil {
			return nil, nil, err
		}
		stores = append(stores, s)
		names = append(names, "s3://"+b)
	}
	return stores, names, nil
}

// erasureRegister is the erasure register of every register bucket read as one (erasure.Registers:
// no partial read). With a single bucket it warns on w: the peer's (or this region's own) erasures
// are then not read.
func erasureRegister(ctx context.Context, f *backupFlags, w io.Writer, secondFlag string) (erasure.Source, []string, error) {
	stores, names, err := erasureStores(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	if len(stores) == 0 {
		return nil, nil, fmt.Errorf("no erasure register: pass --bucket and --region (or set CARO_BACKUP_BUCKET and CARO_REGION) of the backup bucket")
	}
	warnOneRegisterBucket(w, names, secondFlag)
	return erasure.BucketsRegister(names, stores...), names, nil
}

// warnOneRegisterBucket says on w when the register is read from one bucket only: erasures the
// other region recorded (in the replica of its bucket) or this region's own (after a failback)
// would be missed.
func warnOneRegisterBucket(w io.Writer, names []string, secondFlag string) {
	if len(names) == 1 {
		fmt.Fprintf(w, "WARNING: the erasure register is read from %s only; a region's erasures are in its own backup bucket AND its replica of the peer's (after a failover or failback each holds some the other lacks): pass %s <other bucket> (or set %s) to read both\n",
			names[0], secondFlag, envBackupReplicaBucket)
	}
}
