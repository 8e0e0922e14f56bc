package backup

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// PartResult is what a worker sealed for one part: stored beside its object as
// backups/<id>/parts/<stream>-<attempt>.json, MACed with the plan key, and copied into the
// manifest by Finalize.
type PartResult struct {
	Stream uint32 `json:"stream"`
	// Attempt names this run of the part (random): its object, its chunk key. A retried part never
	// seals under a key an earlier attempt used, so no nonce is ever used twice, even when the data
	// changed between the attempts and both objects stay (Object Lock keeps every version).
	Attempt         string    `json:"attempt"`
	Object          string    `json:"object"`
	Count           int64     `json:"count"`
	PlaintextSHA256 string    `json:"plaintextSha256"`
	Chunks          uint64    `json:"chunks"`
	StoredBytes     int64     `json:"storedBytes"`
	StartedAt       time.Time `json:"startedAt"`
	FinishedAt      time.Time `json:"finishedAt"`
	MAC             string    `json:"mac"`
}

// PartOptions configure RunPart.
type PartOptions struct {
	BackupID string
	Stream   uint32
	// SourceURI or Source name the database server (Source wins).
	SourceURI string
	Source    *mongo.Client
	Store     ObjectStore
	KMS       KMS
	// AllowedKeys are the keys the plan's data key may be wrapped under (the region's backup key).
	AllowedKeys []string
	// TempDir holds the sealed part until it is uploaded ("" = os.TempDir; a Lambda uses /tmp).
	TempDir string
	// Progress receives the documents done in the part (Collection, Done) every 10,000 documents.
	Progress func(Progress)
	Now      func() time.Time
}

// partHook, when set (tests only), is called after every document a worker sealed.
var partHook func(docs int64)

func partObject(stream uint32, attempt string) string {
	return fmt.Sprintf("parts/%05d-%s.bin", stream, attempt)
}

func partResultKey(id string, stream uint32, attempt string) string {
	return path.Join(BackupPrefix, id, fmt.Sprintf("parts/%05d-%s.json", stream, attempt))
}

// RunPart seals one part of a planned backup: the documents of its collection in its _id range,
// as BSON, zstd-compressed and cut into AES-256-GCM chunks under the attempt's key, uploaded as
// the part's own object, then its result record. Run it again after a failure or a kill: the new
// attempt writes new objects and Finalize takes one complete attempt per part.
func RunPart(ctx context.Context, o PartOptions) (PartResult, error) {
	if o.Store == nil || o.KMS == nil || len(o.AllowedKeys) == 0 {
		return PartResult{}, errors.New("backup part: object store, KMS and the backup key are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	plan, dataKey, err := ReadPlan(ctx, o.Store, o.KMS, o.AllowedKeys, o.BackupID)
	if err != nil {
		return PartResult{}, err
	}
	part, coll, ok := plan.part(o.Stream)
	if !ok {
		clear(dataKey)
		return PartResult{}, fmt.Errorf("backup %s has no part %d (it has %d)", o.BackupID, o.Stream, len(plan.Parts()))
	}
	attempt := newAttempt()
	res := PartResult{Stream: o.Stream, Attempt: attempt, Object: partObject(o.Stream, attempt), StartedAt: o.Now().UTC()}
	aead, err := chunkCipher(dataKey, plan.BackupID, "chunks "+attempt)
	if err == nil {
		var planKey []byte
		if planKey, err = deriveKey(dataKey, plan.BackupID, "plan"); err == nil {
			defer clear(planKey)
			err = sealPart(ctx, o, plan, coll.Name, part, aead, &res)
			if err == nil {
				err = writePartResult(ctx, o.Store, plan.BackupID, planKey, &res, o.Now)
			}
		}
	}
	clear(dataKey)
	if err != nil {
		return res, fmt.Errorf("backup %s: part %d (collection %s): %w", plan.BackupID, o.Stream, coll.Name, err)
	}
	return res, nil
}

// sealPart streams the part's documents into a temporary file of sealed chunks and uploads it.
func sealPart(ctx context.Context, o PartOptions, plan *Plan, coll string, part PlannedPart, aead cipher.AEAD, res *PartResult) error {
	filter, err := rangeFilter(part)
	if err != nil {
		return err
	}
	client, done, err := sourceClient(ctx, o.Source, o.SourceURI)
	if err != nil {
		return err
	}
	defer done()
	f, err := os.CreateTemp(o.TempDir, "caro-backup-part-*.bin")
	if err != nil {
		return err
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	cw := newChunkWriter(aead, f, []byte(plan.BackupID), part.Stream, plan.ChunkSize)
	// One encoder goroutine per part: the parts themselves run in parallel.
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	sum := sha256.New()
	plain := io.MultiWriter(zw, sum)
	cur, err := client.Database(plan.Database).Collection(coll).Find(ctx, filter, options.Find().SetBatchSize(1000))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if _, err := plain.Write(cur.Current); err != nil {
			return err
		}
		res.Count++
		if partHook != nil {
			partHook(res.Count)
		}
		if res.Count%10000 == 0 {
			report(o.Progress, Progress{Phase: "dump", Collection: coll, Done: res.Count})
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	res.Chunks, res.StoredBytes = cw.chunks(), cw.written
	res.PlaintextSHA256 = hex.EncodeToString(sum.Sum(nil))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := o.Store.Put(ctx, ObjectKey(plan.BackupID, res.Object), f, res.StoredBytes); err != nil {
		return err
	}
	report(o.Progress, Progress{Phase: "dump", Collection: coll, Done: res.Count, Message: fmt.Sprintf("part %d sealed", part.Stream)})
	return nil
}

func writePartResult(ctx context.Context, store ObjectStore, id string, planKey []byte, res *PartResult, now func() time.Time) error {
	res.FinishedAt = now().UTC()
	var err error
	if res.MAC, err = macOf(planKey, res, func(c *PartResult) { c.MAC = "" }); err != nil {
		return err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return store.Put(ctx, partResultKey(id, res.Stream, res.Attempt), bytes.NewReader(body), int64(len(body)))
}

// newAttempt returns 128 random bits in hex.
func newAttempt() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FinalizeOptions configure Finalize.
type FinalizeOptions struct {
	BackupID    string
	Store       ObjectStore
	KMS         KMS
	AllowedKeys []string
	Now         func() time.Time
}

// ErrPartsMissing is returned by Finalize when a planned part has no complete result: some worker
// has not finished (or failed), so no manifest is written.
var ErrPartsMissing = errors.New("backup parts missing")

// Finalize writes the manifest of a planned backup once every part has a complete result: one
// authenticated result per part (the latest attempt when a part ran more than once) whose object
// is stored with its size. It is idempotent: a backup that already has its manifest returns it.
func Finalize(ctx context.Context, o FinalizeOptions) (Manifest, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if body, err := readSmall(ctx, o.Store, ManifestKey(o.BackupID)); err == nil {
		return parseManifest(body, o.BackupID)
	} else if !errors.Is(err, ErrObjectNotFound) {
		return Manifest{}, fmt.Errorf("backup %s: reading its manifest: %w", o.BackupID, err)
	}
	plan, dataKey, err := ReadPlan(ctx, o.Store, o.KMS, o.AllowedKeys, o.BackupID)
	if err != nil {
		return Manifest{}, err
	}
	planKey, err := deriveKey(dataKey, plan.BackupID, "plan")
	macKey, err2 := deriveKey(dataKey, plan.BackupID, "manifest")
	clear(dataKey)
	if err = errors.Join(err, err2); err != nil {
		return Manifest{}, err
	}
	results, err := completedParts(ctx, o.Store, plan, planKey)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{FormatVersion: FormatVersion, BackupID: plan.BackupID, Database: plan.Database, SourceRegion: plan.SourceRegion,
		CreatedAt: plan.CreatedAt, KMSKeyARN: plan.KMSKeyARN, WrappedDataKey: plan.WrappedDataKey, EncryptionContext: plan.EncryptionContext,
		Compression: "zstd", Cipher: "AES-256-GCM", ChunkSize: plan.ChunkSize}
	all := sha256.New()
	var missing []string
	for _, pc := range plan.Collections {
		e := CollectionEntry{Name: pc.Name, Indexes: pc.Indexes, Options: pc.Options}
		csum := sha256.New()
		for _, pp := range pc.Parts {
			r, ok := results[pp.Stream]
			if !ok {
				missing = append(missing, fmt.Sprintf("%d (%s)", pp.Stream, pc.Name))
				continue
			}
			digest, _ := hex.DecodeString(r.PlaintextSHA256)
			csum.Write(digest)
			e.Parts = append(e.Parts, PartEntry{Stream: r.Stream, Object: r.Object, Attempt: r.Attempt, Lo: pp.Lo, Hi: pp.Hi,
				Count: r.Count, PlaintextSHA256: r.PlaintextSHA256, Chunks: r.Chunks, StoredBytes: r.StoredBytes})
			e.Count += r.Count
			e.StoredBytes += r.StoredBytes
		}
		cd := csum.Sum(nil)
		all.Write(cd)
		e.PlaintextSHA256 = hex.EncodeToString(cd)
		m.Collections = append(m.Collections, e)
		m.Documents += e.Count
		m.StoredBytes += e.StoredBytes
	}
	if len(missing) > 0 {
		return Manifest{}, newErr(ErrPartsMissing, nil, "run the missing parts' workers again (the engine retries them), then finalize again; nothing was written",
			"backup %s: no complete worker result for part(s) %s", plan.BackupID, strings.Join(missing, ", "))
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
	if err := o.Store.Put(ctx, ManifestKey(m.BackupID), bytes.NewReader(body), int64(len(body))); err != nil {
		return Manifest{}, fmt.Errorf("backup %s: writing the manifest: %w", m.BackupID, err)
	}
	return m, nil
}

// completedParts reads the parts' result records: per stream the latest authenticated result whose
// object is stored with the size it names.
func completedParts(ctx context.Context, store ObjectStore, plan *Plan, planKey []byte) (map[uint32]PartResult, error) {
	objs, err := store.List(ctx, partsPrefix(plan.BackupID))
	if err != nil {
		return nil, fmt.Errorf("backup %s: listing its parts: %w", plan.BackupID, err)
	}
	sizes := map[string]int64{}
	for _, ob := range objs {
		sizes[ob.Key] = ob.Size
	}
	out := map[uint32]PartResult{}
	for _, ob := range objs {
		if !strings.HasSuffix(ob.Key, ".json") {
			continue
		}
		body, err := readSmall(ctx, store, ob.Key)
		if err != nil {
			return nil, fmt.Errorf("backup %s: reading %s: %w", plan.BackupID, ob.Key, err)
		}
		var r PartResult
		if json.Unmarshal(body, &r) != nil {
			continue // not a result record
		}
		want, err := macOf(planKey, &r, func(c *PartResult) { c.MAC = "" })
		if err != nil || !hmac.Equal([]byte(want), []byte(r.MAC)) || partResultKey(plan.BackupID, r.Stream, r.Attempt) != ob.Key {
			return nil, newErr(ErrManifestMismatch, nil, hintManifest, "backup %s: part result %s fails its MAC: it was changed after its worker wrote it", plan.BackupID, ob.Key)
		}
		if size, ok := sizes[ObjectKey(plan.BackupID, r.Object)]; !ok || size != r.StoredBytes {
			continue // its object is missing or cut: not a complete attempt
		}
		if prev, ok := out[r.Stream]; !ok || r.FinishedAt.After(prev.FinishedAt) {
			out[r.Stream] = r
		}
	}
	return out, nil
}
