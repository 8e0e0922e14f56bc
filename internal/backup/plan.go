package backup

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A backup is written in three stages, so that an engine (a Step Functions Distributed Map of
// Lambda workers, or the CLI's own goroutines) can fan the work out over collections and _id
// ranges: PlanBackup fixes the backup ID, its data key and the parts (plan.json); every part is
// sealed by RunPart into its own object, with a result record beside it; Finalize writes the
// manifest once every part has a result. The manifest is still written last, so an unfinished
// backup is never listed or restored.

// Defaults of the planner.
const (
	// DefaultPartDocuments is the target size of a part. A worker seals about 30 MB/s of 1 KB
	// documents, so a part of 500,000 takes well under a Lambda's 15 minutes even on a slow day.
	DefaultPartDocuments = 500000
	// MaxParts bounds the parts of one backup (the engine's item list stays small).
	MaxParts = 1000
)

// Plan is a backup in progress: everything a part's worker and the finalizer need. It is stored
// as backups/<id>/plan.json before any worker runs and authenticated with a MAC under a key derived
// from the data key (so nobody without kms:Decrypt can point the workers elsewhere).
type Plan struct {
	FormatVersion     int                 `json:"formatVersion"`
	BackupID          string              `json:"backupId"`
	Database          string              `json:"database"`
	SourceRegion      string              `json:"sourceRegion"`
	CreatedAt         time.Time           `json:"createdAt"`
	KMSKeyARN         string              `json:"kmsKeyArn"`
	WrappedDataKey    []byte              `json:"wrappedDataKey"`
	EncryptionContext map[string]string   `json:"encryptionContext"`
	ChunkSize         int                 `json:"chunkSize"`
	Collections       []PlannedCollection `json:"collections"`
	MAC               string              `json:"mac"`
}

// PlannedCollection is one collection of a plan and its parts.
type PlannedCollection struct {
	Name    string            `json:"name"`
	Options json.RawMessage   `json:"options,omitempty"`
	Indexes []json.RawMessage `json:"indexes,omitempty"`
	// Estimated is the document count the planner saw (informational: the parts count exactly).
	Estimated int64         `json:"estimated"`
	Parts     []PlannedPart `json:"parts"`
}

// PlannedPart is one _id range of a collection: [Lo, Hi) in canonical extended JSON ({"$oid":...},
// a string, ...); an empty Lo is open below, an empty Hi open above. A collection with one part
// has neither and is read whole.
type PlannedPart struct {
	Stream uint32          `json:"stream"`
	Lo     json.RawMessage `json:"lo,omitempty"`
	Hi     json.RawMessage `json:"hi,omitempty"`
}

// PlanKey is the object key of a backup's plan.
func PlanKey(id string) string { return path.Join(BackupPrefix, id, "plan.json") }

// partsPrefix holds the parts' objects and result records.
func partsPrefix(id string) string { return path.Join(BackupPrefix, id, "parts") + "/" }

// Parts lists the plan's parts in stream order.
func (p *Plan) Parts() []PlannedPart {
	var out []PlannedPart
	for _, c := range p.Collections {
		out = append(out, c.Parts...)
	}
	return out
}

// part returns the part with stream s and its collection.
func (p *Plan) part(s uint32) (PlannedPart, PlannedCollection, bool) {
	for _, c := range p.Collections {
		for _, pt := range c.Parts {
			if pt.Stream == s {
				return pt, c, true
			}
		}
	}
	return PlannedPart{}, PlannedCollection{}, false
}

// PlanOptions configure PlanBackup.
type PlanOptions struct {
	// SourceURI or Source name the database server (Source wins).
	SourceURI string
	Source    *mongo.Client
	Database  string
	Store     ObjectStore
	KMS       KMS
	// KeyID is the multi-Region key the data key is generated under.
	KeyID string
	// Region is the source region (bound into the encryption context and the manifest).
	Region    string
	ChunkSize int
	// PartDocuments is the target documents per part (default DefaultPartDocuments); a collection
	// with fewer is one part.
	PartDocuments int64
	Now           func() time.Time
}

// checkRun checks what every backup run (Create, PlanBackup) needs and fills the database and
// chunk size defaults; op names the run in its errors.
func checkRun(op string, hasSource bool, store ObjectStore, kms KMS, keyID, region string, database *string, chunkSize *int) error {
	var missing []string
	if !hasSource {
		missing = append(missing, "source URI")
	}
	if store == nil {
		missing = append(missing, "object store (bucket)")
	}
	if kms == nil || keyID == "" {
		missing = append(missing, "KMS key")
	}
	if region == "" {
		missing = append(missing, "source region")
	}
	if len(missing) > 0 {
		return fmt.Errorf("backup %s: missing %s", op, strings.Join(missing, ", "))
	}
	if *database == "" {
		*database = DefaultDatabase
	}
	if *chunkSize <= 0 {
		*chunkSize = DefaultChunkSize
	}
	if *chunkSize > maxChunkSize {
		return fmt.Errorf("backup %s: chunk size %d exceeds %d", op, *chunkSize, maxChunkSize)
	}
	return nil
}

func (o *PlanOptions) validate() error {
	if err := checkRun("plan", o.Source != nil || o.SourceURI != "", o.Store, o.KMS, o.KeyID, o.Region, &o.Database, &o.ChunkSize); err != nil {
		return err
	}
	if o.PartDocuments <= 0 {
		o.PartDocuments = DefaultPartDocuments
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// PlanBackup starts a backup: a new ID, its data key from KMS, the collections with their options
// and indexes, each split into _id ranges of about PartDocuments documents, written as plan.json.
// Nothing is listed or restorable until Finalize writes the manifest.
func PlanBackup(ctx context.Context, o PlanOptions) (*Plan, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	client, done, err := sourceClient(ctx, o.Source, o.SourceURI)
	if err != nil {
		return nil, err
	}
	defer done()
	start := o.Now().UTC()
	id := NewBackupID(start)
	ec := backupContext(id, o.Region)
	dataKey, wrapped, arn, err := o.KMS.GenerateDataKey(ctx, o.KeyID, ec)
	if err != nil {
		return nil, fmt.Errorf("backup plan: KMS GenerateDataKey: %w (check the key ID and kms:GenerateDataKey permission)", err)
	}
	planKey, err := deriveKey(dataKey, id, "plan")
	clear(dataKey)
	if err != nil {
		return nil, err
	}
	p := &Plan{FormatVersion: FormatVersion, BackupID: id, Database: o.Database, SourceRegion: o.Region, CreatedAt: start,
		KMSKeyARN: arn, WrappedDataKey: wrapped, EncryptionContext: ec, ChunkSize: o.ChunkSize}
	db := client.Database(o.Database)
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("backup plan: listing collections of %s: %w", o.Database, err)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	stream := uint32(0)
	for _, spec := range specs {
		if spec.Type == "view" || strings.HasPrefix(spec.Name, "system.") || strings.HasPrefix(spec.Name, reservedPrefix) {
			continue
		}
		coll := db.Collection(spec.Name)
		pc := PlannedCollection{Name: spec.Name}
		if len(spec.Options) > 0 {
			if js, err := bson.MarshalExtJSON(spec.Options, true, false); err == nil && string(js) != "{}" {
				pc.Options = js
			}
		}
		if pc.Indexes, err = listIndexes(ctx, coll); err != nil {
			return nil, fmt.Errorf("backup plan: listing indexes of %s: %w", spec.Name, err)
		}
		ranges, estimated, err := splitRanges(ctx, coll, o.PartDocuments, MaxParts-int(stream))
		if err != nil {
			return nil, fmt.Errorf("backup plan: splitting %s into _id ranges: %w", spec.Name, err)
		}
		pc.Estimated = estimated
		for _, r := range ranges {
			pc.Parts = append(pc.Parts, PlannedPart{Stream: stream, Lo: r[0], Hi: r[1]})
			stream++
		}
		p.Collections = append(p.Collections, pc)
	}
	if p.MAC, err = macOf(planKey, p, func(c *Plan) { c.MAC = "" }); err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := o.Store.Put(ctx, PlanKey(id), bytes.NewReader(body), int64(len(body))); err != nil {
		return nil, fmt.Errorf("backup plan: writing %s: %w", PlanKey(id), err)
	}
	return p, nil
}

// splitRanges cuts coll into ranges of about per documents by one pass over its _id values in
// order (index-only on MongoDB). A collection whose _id values are of more than one BSON type is
// read whole: a range query compares only values of its bound's type, so a range split could miss
// the others. At most limit ranges (at least one).
func splitRanges(ctx context.Context, coll *mongo.Collection, per int64, limit int) ([][2]json.RawMessage, int64, error) {
	whole := [][2]json.RawMessage{{nil, nil}}
	n, err := coll.EstimatedDocumentCount(ctx)
	if err != nil {
		return nil, 0, err
	}
	if n <= per || limit <= 1 {
		return whole, n, nil
	}
	k := min(int((n+per-1)/per), limit)
	stride := n / int64(k)
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).
		SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(10000))
	if err != nil {
		return nil, 0, err
	}
	defer cur.Close(ctx)
	var bounds []bson.RawValue
	var kind bson.Type
	var i int64
	for cur.Next(ctx) {
		v := cur.Current.Lookup("_id")
		if i == 0 {
			kind = v.Type
		} else if v.Type != kind && !(isNumber(v.Type) && isNumber(kind)) {
			return whole, n, nil
		}
		if i > 0 && i%stride == 0 && len(bounds) < k-1 {
			bounds = append(bounds, bson.RawValue{Type: v.Type, Value: append([]byte(nil), v.Value...)})
		}
		i++
	}
	if err := cur.Err(); err != nil {
		return nil, 0, err
	}
	if len(bounds) == 0 {
		return whole, n, nil
	}
	out := make([][2]json.RawMessage, 0, len(bounds)+1)
	var lo json.RawMessage
	for _, b := range bounds {
		hi, err := boundJSON(b)
		if err != nil {
			return whole, n, nil // a value extended JSON cannot carry: read the collection whole
		}
		out = append(out, [2]json.RawMessage{lo, hi})
		lo = hi
	}
	return append(out, [2]json.RawMessage{lo, nil}), n, nil
}

func isNumber(t bson.Type) bool {
	return t == bson.TypeInt32 || t == bson.TypeInt64 || t == bson.TypeDouble || t == bson.TypeDecimal128
}

// boundJSON encodes an _id value as canonical extended JSON ({"v": value}, so any type fits).
func boundJSON(v bson.RawValue) (json.RawMessage, error) {
	return bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
}

// rangeFilter is the query of a part: {_id: {$gte: lo, $lt: hi}} with the open ends left out.
func rangeFilter(p PlannedPart) (bson.D, error) {
	cond := bson.D{}
	for _, b := range []struct {
		op  string
		raw json.RawMessage
	}{{"$gte", p.Lo}, {"$lt", p.Hi}} {
		if len(b.raw) == 0 {
			continue
		}
		var d bson.D
		if err := bson.UnmarshalExtJSON(b.raw, true, &d); err != nil || len(d) != 1 {
			return nil, fmt.Errorf("part %d: bound %s is not an _id value: %v", p.Stream, b.raw, err)
		}
		cond = append(cond, bson.E{Key: b.op, Value: d[0].Value})
	}
	if len(cond) == 0 {
		return bson.D{}, nil
	}
	return bson.D{{Key: "_id", Value: cond}}, nil
}

// ReadPlan fetches a backup's plan and authenticates it with the data key (unwrapped under one of
// the allowed keys only). It returns the plan and the unwrapped data key; the caller clears it.
func ReadPlan(ctx context.Context, store ObjectStore, k KMS, allowed []string, id string) (*Plan, []byte, error) {
	if !ValidBackupID(id) {
		return nil, nil, newErr(ErrNotFound, nil, hintNotFoundID, "%q is not a backup ID (want e.g. 20260102T030405Z-1a2b3c4d)", id)
	}
	body, err := readSmall(ctx, store, PlanKey(id))
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) {
			return nil, nil, newErr(ErrNotFound, err, "the backup was never planned, or the plan's bucket is another: start a new backup", "no plan for backup %s", id)
		}
		return nil, nil, fmt.Errorf("backup %s: reading its plan: %w", id, err)
	}
	var p Plan
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, nil, newErr(ErrManifestMismatch, err, hintManifest, "plan of %s is not valid JSON", id)
	}
	if p.BackupID != id || p.FormatVersion != FormatVersion || !maps.Equal(p.EncryptionContext, backupContext(p.BackupID, p.SourceRegion)) {
		return nil, nil, newErr(ErrManifestMismatch, nil, hintManifest, "plan of %s does not describe this backup (ID %s, format %d)", id, p.BackupID, p.FormatVersion)
	}
	dataKey, err := unwrapDataKey(ctx, k, unwrap{allowed: allowed, claimed: p.KMSKeyARN, wrapped: p.WrappedDataKey, ec: p.EncryptionContext,
		what: "the plan of backup " + id, damaged: ErrManifestMismatch})
	if err != nil {
		return nil, nil, err
	}
	planKey, err := deriveKey(dataKey, id, "plan")
	if err != nil {
		clear(dataKey)
		return nil, nil, err
	}
	want, err := macOf(planKey, &p, func(c *Plan) { c.MAC = "" })
	if err != nil || !hmac.Equal([]byte(want), []byte(p.MAC)) {
		clear(dataKey)
		return nil, nil, newErr(ErrManifestMismatch, err, hintManifest, "plan of %s fails its MAC: it was changed after it was written", id)
	}
	return &p, dataKey, nil
}

// macOf is the hex HMAC-SHA256 under key of v's JSON with blank applied to a copy (its MAC field
// emptied).
func macOf[T any](key []byte, v *T, blank func(*T)) (string, error) {
	c := *v
	blank(&c)
	in, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	h.Write(in)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readSmall reads a small object (a plan, a manifest, a part's result) whole.
func readSmall(ctx context.Context, store ObjectStore, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

// sourceClient returns the injected client or connects to uri.
func sourceClient(ctx context.Context, c *mongo.Client, uri string) (*mongo.Client, func(), error) {
	if c != nil {
		return c, func() {}, nil
	}
	c, err := connect(ctx, uri, 30*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: cannot reach the source database %s: %w (check --source)", RedactURI(uri), err)
	}
	return c, func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }, nil
}
