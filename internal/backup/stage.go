package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/carohealth/platform/internal/audit"
)

// ReservedPrefix starts every collection name the platform keeps for itself in a database (the
// restore's staging and kept-aside collections, its marker, the maintenance switch, the ledger
// hold). Backups skip such collections, and a restore never renames or drops them.
const ReservedPrefix = "_caro_"

// reservedPrefix is ReservedPrefix, for the package's own use.
const reservedPrefix = ReservedPrefix

// LogCollection records every completed restore in the target database (one document per backup
// ID, or per Atlas snapshot: SnapshotLogID). Each document also carries the outbox of its
// restore's audit event (audit.PlatformOutboxCollection, tenantId audit.PlatformTenant), which the
// API's reconciler publishes. internal/restore writes it.
const LogCollection = audit.PlatformOutboxCollection

// Restore's audit event: a restore replaces the whole database, so its event belongs to no tenant.
const (
	ActionRestore    = "backup:restore"
	ResourceDatabase = "database"
)

// ReadOptions name a backup and the keys it may be encrypted under.
type ReadOptions struct {
	// BackupID names the backup (see List).
	BackupID string
	Store    ObjectStore
	KMS      KMS
	// AllowedKeys are the KMS keys the backup's data key may be wrapped under: the region's backup
	// key and its replica of the peer region's (IDs, ARNs or aliases). Required: a backup under any
	// other key is refused, naming it (ErrWrongKey).
	AllowedKeys []string
}

// Backup is a backup whose manifest authenticated: its collections can be checked and staged.
type Backup struct{ b *openedBackup }

// Open fetches and authenticates a backup's manifest (canonical bytes, shape, encryption context,
// data key unwrap under an allowed key, MAC) before anything else is read.
func Open(ctx context.Context, o ReadOptions) (*Backup, error) {
	b, err := openBackup(ctx, o.Store, o.KMS, o.AllowedKeys, o.BackupID)
	if err != nil {
		return nil, err
	}
	return &Backup{b: b}, nil
}

// Manifest returns the authenticated manifest.
func (b *Backup) Manifest() Manifest { return b.b.m }

// Check reads the whole backup once without writing anything: every chunk authenticated, every
// count and checksum compared with the manifest.
func (b *Backup) Check(ctx context.Context, progress func(Progress)) error {
	return b.b.preverify(ctx, progress)
}

// StageOptions tune Stage.
type StageOptions struct {
	// Workers, BatchBytes and BatchDocs tune the parallel loader (defaults DefaultWorkers,
	// DefaultBatchBytes, DefaultBatchDocs).
	Workers    int
	BatchBytes int
	BatchDocs  int
	// Recount also counts every staged collection on the server (slow on FerretDB); without it the
	// counts compared are the server-acknowledged insert counts.
	Recount  bool
	Progress func(Progress)
}

func (o StageOptions) loadOpts() loadOptions {
	lo := loadOptions{workers: o.Workers, batchBytes: o.BatchBytes, batchDocs: o.BatchDocs, recount: o.Recount, progress: o.Progress}
	if lo.workers <= 0 {
		lo.workers = DefaultWorkers
	}
	if lo.batchBytes <= 0 {
		lo.batchBytes = DefaultBatchBytes
	}
	// An insert command must stay below 16 MiB including the one document that may exceed the
	// batch budget.
	lo.batchBytes = min(lo.batchBytes, 8<<20)
	if lo.batchDocs <= 0 {
		lo.batchDocs = DefaultBatchDocs
	}
	return lo
}

// CollectionRestore is one collection of a restore or verification report.
type CollectionRestore struct {
	Name      string `json:"name"`
	Documents int64  `json:"documents"`
	SHA256    string `json:"sha256"`
	Indexes   int    `json:"indexes"`
}

// Stage loads every collection of the backup into db, collection c going to nameFor(c): each chunk
// authenticated before its documents are used, counts and SHA-256 sums compared with the manifest,
// then the indexes recreated. On error some of the nameFor collections may exist: the caller drops
// them (nothing else in db is touched).
func (b *Backup) Stage(ctx context.Context, db *mongo.Database, nameFor func(string) string, o StageOptions) ([]CollectionRestore, error) {
	loaded, err := b.b.loadInto(ctx, db, nameFor, o.loadOpts())
	if err != nil {
		return nil, err
	}
	out := make([]CollectionRestore, 0, len(loaded))
	for _, l := range loaded {
		report(o.Progress, Progress{Phase: "indexes", Collection: l.entry.Name})
		n, err := createIndexes(ctx, db, l.into, l.entry.Indexes)
		if err != nil {
			return nil, fmt.Errorf("restore: recreating indexes of %s: %w (nothing was switched)", l.entry.Name, err)
		}
		out = append(out, CollectionRestore{Name: l.entry.Name, Documents: l.docs, SHA256: l.sha256, Indexes: n})
	}
	return out, nil
}

// targetClient returns the injected client or connects to uri, classifying failure as
// ErrTargetUnreachable. done releases a client it created.
func targetClient(ctx context.Context, c *mongo.Client, uri string, timeout time.Duration) (*mongo.Client, func(), error) {
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	if c != nil {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := c.Ping(pctx, nil); err != nil {
			return nil, nil, newErr(ErrTargetUnreachable, err, hintTarget, "pinging the target")
		}
		return c, func() {}, nil
	}
	if uri == "" {
		return nil, nil, errors.New("no target: pass --target <mongodb-uri>")
	}
	c, err := connect(ctx, uri, timeout)
	if err != nil {
		return nil, nil, newErr(ErrTargetUnreachable, err, hintTarget, "connecting to %s", RedactURI(uri))
	}
	return c, func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }, nil
}

// RedactURI removes credentials and options from a MongoDB URI before it is printed.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "<invalid uri>"
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	if q := strings.Index(rest, "?"); q >= 0 {
		rest = rest[:q]
	}
	return scheme + "://" + rest
}

// CreateStaging creates the collections the backup's collections are loaded into (nameFor(c)),
// empty and with their backed-up options, so the parts' loaders (StagePart, one engine worker
// each) never race on creating them. A collection that already exists is left as it is.
func (b *Backup) CreateStaging(ctx context.Context, db *mongo.Database, nameFor func(string) string) error {
	existing, err := db.ListCollectionNames(ctx, map[string]any{})
	if err != nil {
		return newErr(ErrTargetUnreachable, err, hintTarget, "listing %s", db.Name())
	}
	for _, c := range b.b.m.Collections {
		if slices.Contains(existing, nameFor(c.Name)) {
			continue
		}
		if err := createCollection(ctx, db, nameFor(c.Name), c.Options); err != nil {
			return fmt.Errorf("restore: creating %s: %w", nameFor(c.Name), err)
		}
	}
	return nil
}

// Streams lists the backup's chunk streams (its parts in version 2, its collections in version 1)
// in manifest order: the units an engine's workers load one each.
func (b *Backup) Streams() []uint32 {
	var out []uint32
	for _, c := range b.b.m.Collections {
		for _, s := range c.streams(b.b.m.FormatVersion) {
			out = append(out, s.Stream)
		}
	}
	return out
}

// StagePart loads one chunk stream (a part) into nameFor(its collection), which CreateStaging
// made: every chunk authenticated before its documents are used (the last batch only after the
// part matched the manifest's count and SHA-256). Documents an earlier, interrupted attempt of the
// same part already inserted count as loaded, so a worker that was killed can simply run again.
// It returns the part's collection and documents.
func (b *Backup) StagePart(ctx context.Context, db *mongo.Database, nameFor func(string) string, stream uint32, o StageOptions) (string, int64, error) {
	for _, c := range b.b.m.Collections {
		for _, s := range c.streams(b.b.m.FormatVersion) {
			if s.Stream == stream {
				n, err := b.b.loadPart(ctx, db, c, s, nameFor(c.Name), o.loadOpts())
				return c.Name, n, err
			}
		}
	}
	return "", 0, fmt.Errorf("backup %s has no part %d", b.b.m.BackupID, stream)
}

// FinishStaging checks what the parts' loaders staged (every collection counted on the server
// equals the manifest's count) and recreates the indexes, like the end of Stage.
func (b *Backup) FinishStaging(ctx context.Context, db *mongo.Database, nameFor func(string) string, progress func(Progress)) ([]CollectionRestore, error) {
	out := make([]CollectionRestore, 0, len(b.b.m.Collections))
	for _, c := range b.b.m.Collections {
		into := nameFor(c.Name)
		n, err := db.Collection(into).CountDocuments(ctx, map[string]any{})
		if err != nil {
			return nil, fmt.Errorf("restore: counting %s: %w", into, err)
		}
		if n != c.Count {
			return nil, newErr(ErrManifestMismatch, nil, "load the backup again; nothing was switched", "collection %s holds %d documents after its parts were loaded, the manifest says %d", c.Name, n, c.Count)
		}
		report(progress, Progress{Phase: "indexes", Collection: c.Name})
		k, err := createIndexes(ctx, db, into, c.Indexes)
		if err != nil {
			return nil, fmt.Errorf("restore: recreating indexes of %s: %w (nothing was switched)", c.Name, err)
		}
		out = append(out, CollectionRestore{Name: c.Name, Documents: n, SHA256: c.PlaintextSHA256, Indexes: k})
	}
	return out, nil
}
