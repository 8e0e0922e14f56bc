package backup

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DefaultDatabase is the application database a backup covers unless told otherwise.
const DefaultDatabase = "caro"

// CreateOptions configure Create.
type CreateOptions struct {
	// SourceURI is the MongoDB connection string; ignored when Source is set.
	SourceURI string
	// Source is an already connected client (the Lambda reuses one across invocations).
	Source *mongo.Client
	// Database to back up (default "caro").
	Database string
	Store    ObjectStore
	KMS      KMS
	// KeyID is the multi-Region KMS key (ID, ARN or alias) the data key is generated under.
	KeyID string
	// Region is the source region, bound into the encryption context and the manifest.
	Region string
	// ChunkSize is the plaintext chunk size (default DefaultChunkSize).
	ChunkSize int
	// TempDir holds each collection's sealed object until it is uploaded ("" = os.TempDir; a
	// Lambda uses /tmp).
	TempDir string
	// Progress, when set, receives progress events.
	Progress func(Progress)
	// Now is the clock (tests pin it).
	Now func() time.Time
}

// Progress is one progress event of a create, restore or verify.
type Progress struct {
	Phase      string // "manifest", "dump", "stage", "check", "indexes", "switch", "cleanup", "done"
	Collection string
	Done       int64 // documents done in this collection (or phase)
	Total      int64 // documents expected (0 when unknown)
	Message    string
}

// NewBackupID returns a sortable, unique backup ID: UTC time plus 32 random bits.
func NewBackupID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (o *CreateOptions) validate() error {
	var missing []string
	if o.Source == nil && o.SourceURI == "" {
		missing = append(missing, "source URI")
	}
	if o.Store == nil {
		missing = append(missing, "object store (bucket)")
	}
	if o.KMS == nil || o.KeyID == "" {
		missing = append(missing, "KMS key")
	}
	if o.Region == "" {
		missing = append(missing, "source region")
	}
	if len(missing) > 0 {
		return fmt.Errorf("backup create: missing %s", strings.Join(missing, ", "))
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize > maxChunkSize {
		return fmt.Errorf("backup create: chunk size %d exceeds %d", o.ChunkSize, maxChunkSize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Create streams every collection of the source database into a new encrypted backup and writes
// its manifest last, so a backup without a manifest (an interrupted run) is never listed or
// restored. Collections are read one after another without a cross-collection snapshot (FerretDB
// and the serverless tiers have none); each document is read atomically.
func Create(ctx context.Context, o CreateOptions) (Manifest, error) {
	if err := o.validate(); err != nil {
		return Manifest{}, err
	}
	client := o.Source
	if client == nil {
		c, err := connect(ctx, o.SourceURI, 30*time.Second)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup create: cannot reach source database: %w (check --source)", err)
		}
		defer func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }()
		client = c
	}
	start := o.Now().UTC()
	id := NewBackupID(start)
	ec := backupContext(id, o.Region)
	dataKey, wrapped, arn, err := o.KMS.GenerateDataKey(ctx, o.KeyID, ec)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup create: KMS GenerateDataKey: %w (check the key ID and kms:GenerateDataKey permission)", err)
	}
	aead, err := chunkCipher(dataKey, id, "chunks")
	if err != nil {
		clear(dataKey)
		return Manifest{}, err
	}
	macKey, err := deriveKey(dataKey, id, "manifest")
	clear(dataKey)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{
		FormatVersion: FormatVersion, BackupID: id, Database: o.Database, SourceRegion: o.Region,
		CreatedAt: start, KMSKeyARN: arn, WrappedDataKey: wrapped, EncryptionContext: ec,
		Compression: "zstd", Cipher: "AES-256-GCM", ChunkSize: o.ChunkSize,
	}
	db := client.Database(o.Database)
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup create: listing collections of %s: %w", o.Database, err)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	all := sha256.New()
	stream := uint32(0)
	for _, spec := range specs {
		if spec.Type == "view" || strings.HasPrefix(spec.Name, "system.") || strings.HasPrefix(spec.Name, reservedPrefix) {
			continue
		}
		entry, err := dumpCollection(ctx, db.Collection(spec.Name), id, stream, aead, all, &o)
		if err != nil {
			return Manifest{}, fmt.Errorf("backup create: collection %s: %w", spec.Name, err)
		}
		if len(spec.Options) > 0 {
			if opts, err := bson.MarshalExtJSON(spec.Options, true, false); err == nil && string(opts) != "{}" {
				entry.Options = opts
			}
		}
		m.Collections = append(m.Collections, entry)
		m.Documents += entry.Count
		m.StoredBytes += entry.StoredBytes
		stream++
	}
	m.PlaintextSHA256 = hex.EncodeToString(all.Sum(nil))
	m.CompletedAt = o.Now().UTC()
	if m.MAC, err = m.computeMAC(macKey); err != nil {
		return Manifest{}, err
	}
	body, err := encodeManifest(m)
	if err != nil {
		return Manifest{}, err
	}
	if err := o.Store.Put(ctx, ManifestKey(id), strings.NewReader(string(body)), int64(len(body))); err != nil {
		return Manifest{}, fmt.Errorf("backup create: writing manifest: %w", err)
	}
	report(o.Progress, Progress{Phase: "done", Done: m.Documents, Total: m.Documents, Message: "backup " + id + " written"})
	return m, nil
}

// dumpCollection seals one collection into a temporary file and uploads it.
func dumpCollection(ctx context.Context, coll *mongo.Collection, id string, stream uint32, aead cipher.AEAD, all hash.Hash, o *CreateOptions) (CollectionEntry, error) {
	entry := CollectionEntry{Name: coll.Name(), Stream: stream, Object: fmt.Sprintf("c%04d.bin", stream)}
	f, err := os.CreateTemp(o.TempDir, "caro-backup-*.bin")
	if err != nil {
		return entry, err
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	cw := newChunkWriter(aead, f, []byte(id), stream, o.ChunkSize)
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return entry, err
	}
	sum := sha256.New()
	plain := io.MultiWriter(zw, sum, all)
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1000))
	if err != nil {
		return entry, err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if _, err := plain.Write(cur.Current); err != nil {
			return entry, err
		}
		entry.Count++
		if entry.Count%10000 == 0 {
			report(o.Progress, Progress{Phase: "dump", Collection: entry.Name, Done: entry.Count})
		}
	}
	if err := cur.Err(); err != nil {
		return entry, err
	}
	if err := zw.Close(); err != nil {
		return entry, err
	}
	if err := cw.Close(); err != nil {
		return entry, err
	}
	entry.Chunks = cw.chunks()
	entry.StoredBytes = cw.written
	entry.PlaintextSHA256 = hex.EncodeToString(sum.Sum(nil))
	if entry.Indexes, err = listIndexes(ctx, coll); err != nil {
		return entry, fmt.Errorf("listing indexes: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return entry, err
	}
	if err := o.Store.Put(ctx, ObjectKey(id, entry.Object), f, entry.StoredBytes); err != nil {
		return entry, err
	}
	report(o.Progress, Progress{Phase: "dump", Collection: entry.Name, Done: entry.Count, Total: entry.Count, Message: "sealed"})
	return entry, nil
}

// listIndexes returns the collection's index specifications except the implicit _id_ index, as
// canonical extended JSON without the server-specific "v" and "ns" fields.
func listIndexes(ctx context.Context, coll *mongo.Collection) ([]json.RawMessage, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var out []json.RawMessage
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			return nil, err
		}
		keep := bson.D{}
		name := ""
		for _, e := range spec {
			switch e.Key {
			case "v", "ns":
				continue
			case "name":
				name, _ = e.Value.(string)
			}
			keep = append(keep, e)
		}
		if name == "_id_" {
			continue
		}
		js, err := bson.MarshalExtJSON(keep, true, false)
		if err != nil {
			return nil, err
		}
		out = append(out, js)
	}
	return out, cur.Err()
}

func report(f func(Progress), p Progress) {
	if f != nil {
		f(p)
	}
}

// connect opens a client and pings it, so an unreachable server fails fast with a clear error.
func connect(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	if uri == "" {
		return nil, errors.New("no connection string")
	}
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(timeout).SetConnectTimeout(timeout))
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Ping(pctx, nil); err != nil {
		_ = c.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return c, nil
}

// ProgressWriter returns a progress callback that writes one line per event to w (typically
// stderr), for callers that want text rather than events.
func ProgressWriter(w io.Writer) func(Progress) {
	return func(p Progress) {
		switch {
		case p.Collection != "" && p.Total > 0:
			fmt.Fprintf(w, "%-8s %s %d/%d %s\n", p.Phase, p.Collection, p.Done, p.Total, p.Message)
		case p.Collection != "":
			fmt.Fprintf(w, "%-8s %s %d %s\n", p.Phase, p.Collection, p.Done, p.Message)
		default:
			fmt.Fprintf(w, "%-8s %s\n", p.Phase, p.Message)
		}
	}
}
