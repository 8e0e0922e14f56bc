package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/audit"
)

// SnapshotRestoreEvent is the audit event of an Atlas snapshot restore (which replaces the whole
// target cluster, outside this package): action backup:restore, tenant audit.PlatformTenant,
// resource type database, resource ID the snapshot ID. The snapshot's content is not readable
// here, so its after hash is SHA-256 over the snapshot and restore job IDs: it names the state
// restored rather than digesting it.
func SnapshotRestoreEvent(origin audit.Origin, snapshotID, restoreJobID string, now time.Time) audit.Event {
	ev := origin.Event(now, audit.PlatformTenant, ActionRestore, ResourceDatabase, snapshotID)
	sum := sha256.Sum256([]byte("caro/atlas-snapshot/v1\x00" + snapshotID + "\x00" + restoreJobID))
	ev.AfterHash = hex.EncodeToString(sum[:])
	return ev
}

// SnapshotLogID is the LogCollection document of an Atlas snapshot restore.
func SnapshotLogID(snapshotID string) string { return "atlas-snapshot-" + snapshotID }

// RecordSnapshotRestore records an Atlas snapshot restore in the restored database's LogCollection
// (document SnapshotLogID) with its event ev in the document's outbox, in one upsert, for the
// reconciler to publish; it returns where the event is, for inline delivery.
func RecordSnapshotRestore(ctx context.Context, db *mongo.Database, ev audit.Event, snapshotID, restoreJobID string, snapshotTime time.Time) (audit.Written, error) {
	set := bson.D{{Key: "tenantId", Value: audit.PlatformTenant}, {Key: "restoredAt", Value: ev.Time}, {Key: "atlasSnapshotId", Value: snapshotID},
		{Key: "atlasRestoreJobId", Value: restoreJobID}, {Key: "backupTime", Value: snapshotTime.UTC()}}
	upd, err := audit.WithEvent(bson.D{{Key: "$set", Value: set}}, ev)
	if err != nil {
		return audit.Written{}, err
	}
	id := SnapshotLogID(snapshotID)
	if _, err := db.Collection(LogCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, upd, options.UpdateOne().SetUpsert(true)); err != nil {
		return audit.Written{}, fmt.Errorf("recording the snapshot restore and its audit event %s in %s: %w", ev.ID, LogCollection, err)
	}
	return audit.Written{Collection: LogCollection, TenantID: audit.PlatformTenant, DocID: id, Event: ev}, nil
}
