package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Defaults for the parallel loader, measured on FerretDB/SQLite (2 cores): it commits 100
// documents per transaction whatever the batch, and more than two writers only contend for the
// database lock. Two workers keep one batch in flight while the next is decoded.
const (
	DefaultWorkers    = 2
	DefaultBatchBytes = 4 << 20
	DefaultBatchDocs  = 1000
	maxBSONDocument   = 16<<20 + 16<<10 // 16 MiB plus the server's command overhead allowance
)

// loadOptions tune loadInto.
type loadOptions struct {
	workers    int
	batchBytes int
	batchDocs  int
	// recount counts every loaded collection on the server afterwards, in addition to the
	// server-acknowledged insert counts. FerretDB counts by scanning (about 15k documents/s), so
	// Restore leaves it to the weekly Verify and to RestoreOptions.Recount.
	recount  bool
	progress func(Progress)
}

// loadedCollection is what the loader saw of one collection, checked against the manifest.
type loadedCollection struct {
	entry    CollectionEntry
	into     string // collection the documents went to
	docs     int64
	sha256   string
	inserted int64
}

type insertBatch struct {
	coll *mongo.Collection
	docs []bson.Raw
	n    *atomic.Int64
}

// insertBatchCmd inserts one batch unordered with the insert command and returns the number of
// documents the server acknowledged (its "n"), which must be the whole batch.
func insertBatchCmd(ctx context.Context, bt insertBatch) (int64, error) {
	var reply struct {
		N           int64 `bson:"n"`
		WriteErrors []struct {
			Index  int    `bson:"index"`
			Code   int    `bson:"code"`
			ErrMsg string `bson:"errmsg"`
		} `bson:"writeErrors"`
	}
	cmd := bson.D{{Key: "insert", Value: bt.coll.Name()}, {Key: "documents", Value: bt.docs}, {Key: "ordered", Value: false}}
	if err := bt.coll.Database().RunCommand(ctx, cmd).Decode(&reply); err != nil {
		return 0, err
	}
	if len(reply.WriteErrors) > 0 {
		we := reply.WriteErrors[0]
		return reply.N, fmt.Errorf("%d of %d documents rejected, first: code %d: %s", len(reply.WriteErrors), len(bt.docs), we.Code, we.ErrMsg)
	}
	if reply.N != int64(len(bt.docs)) {
		return reply.N, fmt.Errorf("server acknowledged %d of %d documents", reply.N, len(bt.docs))
	}
	return reply.N, nil
}

// loadInto streams every collection of the backup into db, collection c going to nameFor(c).
// Documents are inserted by bounded workers in unordered batches while the next chunks are
// authenticated and decoded. It returns an error if any chunk fails, or any count or checksum
// differs from the manifest; on error some documents may have been inserted into the nameFor
// collections, which the caller drops.
func (b *openedBackup) loadInto(ctx context.Context, db *mongo.Database, nameFor func(string) string, lo loadOptions) ([]loadedCollection, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan insertBatch, lo.workers*2)
	var wg sync.WaitGroup
	for range lo.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bt := range batches {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				n, err := insertBatchCmd(ctx, bt)
				if err != nil {
					cancel(fmt.Errorf("inserting into %s: %w", bt.coll.Name(), err))
					continue
				}
				bt.n.Add(n)
			}
		}()
	}
	results := make([]loadedCollection, 0, len(b.m.Collections))
	counters := make([]*atomic.Int64, 0, len(b.m.Collections))
	var perr error
	all := sha256.New()
	for _, c := range b.m.Collections {
		n := new(atomic.Int64)
		counters = append(counters, n)
		lc, err := b.produce(ctx, db, c, nameFor(c.Name), batches, n, all, lo)
		results = append(results, lc)
		if err != nil {
			perr = err
			break
		}
	}
	close(batches)
	wg.Wait()
	if perr != nil {
		// A chunk error is the root cause even when it raced with a cancelled insert.
		return results, perr
	}
	if err := context.Cause(ctx); err != nil {
		return results, fmt.Errorf("restore: %w", err)
	}
	if got := hex.EncodeToString(all.Sum(nil)); got != b.m.PlaintextSHA256 {
		return results, newErr(ErrManifestMismatch, nil, hintManifest, "backup %s: plaintext SHA-256 %s differs from the manifest's %s", b.m.BackupID, got, b.m.PlaintextSHA256)
	}
	for i := range results {
		results[i].inserted = counters[i].Load()
		r := results[i]
		if r.inserted != r.entry.Count {
			return results, fmt.Errorf("restore: collection %s: %d of %d documents were inserted; nothing was switched, retry", r.entry.Name, r.inserted, r.entry.Count)
		}
		if !lo.recount {
			continue
		}
		stored, err := db.Collection(r.into).CountDocuments(ctx, bson.D{})
		if err != nil {
			return results, fmt.Errorf("restore: counting %s: %w", r.into, err)
		}
		if stored != r.entry.Count {
			return results, fmt.Errorf("restore: collection %s holds %d documents after loading, the manifest says %d; nothing was switched, retry", r.into, stored, r.entry.Count)
		}
	}
	return results, nil
}

// produce authenticates, decompresses and splits one collection into insert batches.
func (b *openedBackup) produce(ctx context.Context, db *mongo.Database, c CollectionEntry, into string, batches chan<- insertBatch, n *atomic.Int64, all io.Writer, lo loadOptions) (loadedCollection, error) {
	lc := loadedCollection{entry: c, into: into}
	if err := createCollection(ctx, db, into, c.Options); err != nil {
		return lc, fmt.Errorf("restore: creating %s: %w", into, err)
	}
	coll := db.Collection(into)
	batch := make([]bson.Raw, 0, lo.batchDocs)
	size := 0
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		select {
		case batches <- insertBatch{coll: coll, docs: batch, n: n}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		batch = make([]bson.Raw, 0, lo.batchDocs)
		size = 0
		return nil
	}
	docs, sum, err := b.scanCollection(ctx, c, all, true, func(doc []byte) error {
		// Keep the insert command under the 16 MiB BSON limit: a large document goes out in a
		// batch of its own rather than on top of a full one.
		if len(batch) > 0 && size+len(doc) > lo.batchBytes {
			if err := send(); err != nil {
				return err
			}
		}
		batch = append(batch, bson.Raw(doc))
		size += len(doc)
		if size >= lo.batchBytes || len(batch) >= lo.batchDocs {
			return send()
		}
		return nil
	}, lo.progress)
	lc.docs, lc.sha256 = docs, sum
	if err != nil {
		return lc, err
	}
	// Only a collection that authenticated to its final chunk and matched the manifest gets its
	// last batch.
	if err := send(); err != nil {
		return lc, err
	}
	report(lo.progress, Progress{Phase: "stage", Collection: c.Name, Done: lc.docs, Total: c.Count, Message: "authenticated"})
	return lc, nil
}

// preverify authenticates every chunk of every collection and checks every count and checksum
// against the manifest without writing anything: the restore touches the target only after the
// whole backup proved intact.
func (b *openedBackup) preverify(ctx context.Context, progress func(Progress)) error {
	all := sha256.New()
	for _, c := range b.m.Collections {
		if _, _, err := b.scanCollection(ctx, c, all, false, nil, nil); err != nil {
			return err
		}
		report(progress, Progress{Phase: "check", Collection: c.Name, Done: c.Count, Total: c.Count, Message: "every chunk authenticated"})
	}
	if got := hex.EncodeToString(all.Sum(nil)); got != b.m.PlaintextSHA256 {
		return newErr(ErrManifestMismatch, nil, hintManifest, "backup %s: plaintext SHA-256 %s differs from the manifest's %s", b.m.BackupID, got, b.m.PlaintextSHA256)
	}
	return nil
}

// scanCollection streams one collection: it authenticates every chunk, decompresses, splits the
// BSON documents, hashes them (into the collection's SHA-256 and all) and passes each to visit
// (a fresh slice when own is true, else a reused buffer). It fails unless the object ended with
// its final chunk and the chunk count, document count and SHA-256 match the manifest.
func (b *openedBackup) scanCollection(ctx context.Context, c CollectionEntry, all io.Writer, own bool, visit func([]byte) error, progress func(Progress)) (int64, string, error) {
	var docs int64
	src, closer, err := b.openCollection(ctx, c)
	if err != nil {
		return 0, "", err
	}
	defer closer.Close()
	cr := src.(*chunkReader)
	zr, err := zstd.NewReader(cr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return 0, "", err
	}
	defer zr.Close()
	// chunkErr prefers the chunk layer's classified error over the decompressor's wrapping of it.
	chunkErr := func(err error) error {
		if cr.err != nil {
			return cr.err
		}
		return newErr(ErrTampered, err, hintTampered, "collection %s: authenticated data does not decompress", c.Name)
	}
	br := bufio.NewReaderSize(zr, 1<<20)
	sum := sha256.New()
	var lenBuf [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, lenBuf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return docs, "", chunkErr(err)
		}
		l := int(binary.LittleEndian.Uint32(lenBuf[:]))
		if l < 5 || l > maxBSONDocument {
			return docs, "", newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: document %d has an impossible length %d", c.Name, docs, l)
		}
		var doc []byte
		if own {
			doc = make([]byte, l)
		} else {
			if cap(buf) < l {
				buf = make([]byte, l)
			}
			doc = buf[:l]
		}
		copy(doc, lenBuf[:])
		if _, err := io.ReadFull(br, doc[4:]); err != nil {
			return docs, "", chunkErr(err)
		}
		sum.Write(doc)
		all.Write(doc)
		docs++
		if visit != nil {
			if err := visit(doc); err != nil {
				return docs, "", err
			}
		}
		if docs%10000 == 0 {
			report(progress, Progress{Phase: "stage", Collection: c.Name, Done: docs, Total: c.Count})
		}
	}
	// The decompressor may stop at the end of its frame; make sure the object really ended with
	// its final chunk and nothing follows.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return docs, "", err
	}
	if !cr.done {
		return docs, "", newErr(ErrTruncated, nil, hintTruncated, "collection %s: object ended without its final chunk", c.Name)
	}
	if cr.index != c.Chunks {
		return docs, "", newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: %d chunks, the manifest says %d", c.Name, cr.index, c.Chunks)
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if docs != c.Count {
		return docs, got, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: %d documents in the backup, the manifest says %d", c.Name, docs, c.Count)
	}
	if got != c.PlaintextSHA256 {
		return docs, got, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: SHA-256 %s differs from the manifest's %s", c.Name, got, c.PlaintextSHA256)
	}
	return docs, got, nil
}

// createCollection creates name with the backed-up creation options (if any).
func createCollection(ctx context.Context, db *mongo.Database, name string, opts json.RawMessage) error {
	cmd := bson.D{{Key: "create", Value: name}}
	if len(opts) > 0 {
		var o bson.D
		if err := bson.UnmarshalExtJSON(opts, true, &o); err != nil {
			return fmt.Errorf("collection options: %w", err)
		}
		for _, e := range o {
			if e.Key == "uuid" {
				continue
			}
			cmd = append(cmd, e)
		}
	}
	return db.RunCommand(ctx, cmd).Err()
}

// createIndexes recreates the backed-up index definitions on coll.
func createIndexes(ctx context.Context, db *mongo.Database, coll string, specs []json.RawMessage) (int, error) {
	if len(specs) == 0 {
		return 0, nil
	}
	idx := bson.A{}
	for _, s := range specs {
		var d bson.D
		if err := bson.UnmarshalExtJSON(s, true, &d); err != nil {
			return 0, fmt.Errorf("index definition %s: %w", s, err)
		}
		idx = append(idx, d)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: coll}, {Key: "indexes", Value: idx}}).Err(); err != nil {
		return 0, err
	}
	return len(idx), nil
}
