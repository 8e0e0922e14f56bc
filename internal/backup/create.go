package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

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
	// TempDir holds each part's sealed object until it is uploaded ("" = os.TempDir; a Lambda
	// uses /tmp).
	TempDir string
	// Workers is how many parts are sealed at a time (default DefaultCreateWorkers);
	// PartDocuments the target documents per part (default DefaultPartDocuments).
	Workers       int
	PartDocuments int64
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
	if err := checkRun("create", o.Source != nil || o.SourceURI != "", o.Store, o.KMS, o.KeyID, o.Region, &o.Database, &o.ChunkSize); err != nil {
		return err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// DefaultCreateWorkers is how many parts Create seals at a time in one process.
const DefaultCreateWorkers = 2

// Create writes a new encrypted backup of every collection of the source database in one process,
// with the same code an engine's workers run: PlanBackup, then every part by RunPart (Workers at a
// time), then Finalize, which writes the manifest last, so a backup without a manifest (an
// interrupted run) is never listed or restored. Collections are read without a cross-collection
// snapshot (FerretDB and the serverless tiers have none); each document is read atomically.
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
	plan, err := PlanBackup(ctx, PlanOptions{Source: client, Database: o.Database, Store: o.Store, KMS: o.KMS, KeyID: o.KeyID, Region: o.Region,
		ChunkSize: o.ChunkSize, PartDocuments: o.PartDocuments, Now: o.Now})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup create: %w", err)
	}
	// The plan's data key is wrapped under KeyID; the workers unwrap it under that key only.
	allowed := []string{o.KeyID}
	if keyID(o.KeyID) == "" { // an alias: name the key the plan says wrapped it
		allowed = append(allowed, plan.KMSKeyARN)
	}
	if err := runParts(ctx, plan, o.Workers, func(ctx context.Context, part PlannedPart, progress func(Progress)) error {
		_, err := RunPart(ctx, PartOptions{BackupID: plan.BackupID, Stream: part.Stream, Source: client, Store: o.Store, KMS: o.KMS,
			AllowedKeys: allowed, TempDir: o.TempDir, Progress: progress, Now: o.Now})
		return err
	}, o.Progress); err != nil {
		return Manifest{}, fmt.Errorf("backup create: %w (backup %s has no manifest: it is never listed or restored)", err, plan.BackupID)
	}
	m, err := Finalize(ctx, FinalizeOptions{BackupID: plan.BackupID, Store: o.Store, KMS: o.KMS, AllowedKeys: allowed, Now: o.Now})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup create: %w", err)
	}
	report(o.Progress, Progress{Phase: "done", Done: m.Documents, Total: m.Documents, Message: "backup " + m.BackupID + " written"})
	return m, nil
}

// runParts runs run for every part of plan, workers at a time, and stops at the first error. The
// progress of a collection's parts is summed, so a caller sees each collection's documents done.
func runParts(ctx context.Context, plan *Plan, workers int, run func(context.Context, PlannedPart, func(Progress)) error, progress func(Progress)) error {
	if workers <= 0 {
		workers = DefaultCreateWorkers
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type job struct {
		part PlannedPart
		coll string
	}
	jobs := make(chan job)
	var mu sync.Mutex
	done := map[string]int64{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var last int64
				err := run(ctx, j.part, func(p Progress) {
					mu.Lock()
					done[j.coll] += p.Done - last
					last = p.Done
					p.Done = done[j.coll]
					mu.Unlock()
					report(progress, p)
				})
				if err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, c := range plan.Collections {
		for _, p := range c.Parts {
			select {
			case jobs <- job{part: p, coll: c.Name}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
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
