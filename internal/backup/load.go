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
	// dupOK counts a document whose _id is already there as present: a retried part's worker
	// loads into a staging collection its killed attempt partly filled, and every document there
	// came from the same immutable backup.
	dupOK bool
}

// duplicateKey is the server's code for a unique index violation.
const duplicateKey = 11000

// insertBatchCmd inserts one batch unordered with the insert command and returns the number of
// documents the server acknowledged (its "n", plus with dupOK the duplicates), which must be the
// whole batch.
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
		// The driver turns a reply with write errors into a WriteException; with dupOK its reply
		// is counted below like any.
		var we mongo.WriteException
		if !bt.dupOK || !errors.As(err, &we) || we.WriteConcernError != nil || len(we.Raw) == 0 || bson.Unmarshal(we.Raw, &reply) != nil {
			return 0, err
		}
	}
	if bt.dupOK {
		rest := reply.WriteErrors[:0]
		for _, we := range reply.WriteErrors {
			if we.Code == duplicateKey {
				reply.N++
				continue
			}
			rest = append(rest, we)
		}
		reply.WriteErrors = rest
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
	pool := newInsertPool(ctx, lo.workers)
	results := make([]loadedCollection, 0, len(b.m.Collections))
	counters := make([]*atomic.Int64, 0, len(b.m.Collections))
	var perr error
	all := sha256.New()
	for _, c := range b.m.Collections {
		n := new(atomic.Int64)
		counters = append(counters, n)
		lc, err := b.produce(pool.ctx, db, c, nameFor(c.Name), pool.batches, n, all, lo)
		results = append(results, lc)
		if err != nil {
			perr = err
			break
		}
	}
	if err := pool.wait(); perr != nil {
		// A chunk error is the root cause even when it raced with a cancelled insert.
		return results, perr
	} else if err != nil {
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
	add, send := batcher(ctx, insertBatch{coll: db.Collection(into), n: n}, batches, lo)
	docs, sum, err := b.scanCollection(ctx, c, all, true, add, lo.progress)
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

// insertPool is the bounded set of insert workers a load feeds: batches are inserted unordered while
// the next chunks are authenticated and decoded. The first failure cancels ctx (its cause says why).
type insertPool struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	batches chan insertBatch
	wg      sync.WaitGroup
}

func newInsertPool(ctx context.Context, workers int) *insertPool {
	p := &insertPool{batches: make(chan insertBatch, workers*2)}
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	for range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for bt := range p.batches {
				if p.ctx.Err() != nil {
					continue // drain after a failure
				}
				n, err := insertBatchCmd(p.ctx, bt)
				if err != nil {
					p.cancel(fmt.Errorf("inserting into %s: %w", bt.coll.Name(), err))
					continue
				}
				bt.n.Add(n)
			}
		}()
	}
	return p
}

// wait closes the pool, waits for the workers and returns the first failure.
func (p *insertPool) wait() error {
	close(p.batches)
	p.wg.Wait()
	err := context.Cause(p.ctx)
	p.cancel(nil)
	return err
}

// batcher cuts documents into batches of the shape of like (its collection, counter and dupOK)
// for the pool: add takes one document, send flushes the batch in hand.
func batcher(ctx context.Context, like insertBatch, batches chan<- insertBatch, lo loadOptions) (add func([]byte) error, send func() error) {
	batch := make([]bson.Raw, 0, lo.batchDocs)
	size := 0
	send = func() error {
		if len(batch) == 0 {
			return nil
		}
		bt := like
		bt.docs = batch
		select {
		case batches <- bt:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		batch = make([]bson.Raw, 0, lo.batchDocs)
		size = 0
		return nil
	}
	add = func(doc []byte) error {
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
	}
	return add, send
}

// loadPart streams one part (chunk stream) of collection c into the existing collection into,
// tolerating documents a killed earlier attempt already inserted. Its last batch goes out only
// after the part authenticated to its final chunk and matched the manifest.
func (b *openedBackup) loadPart(ctx context.Context, db *mongo.Database, c CollectionEntry, s PartEntry, into string, lo loadOptions) (int64, error) {
	pool := newInsertPool(ctx, lo.workers)
	n := new(atomic.Int64)
	add, send := batcher(pool.ctx, insertBatch{coll: db.Collection(into), n: n, dupOK: true}, pool.batches, lo)
	docs, _, err := b.scanStream(pool.ctx, c.Name, s, io.Discard, true, add, lo.progress, 0, s.Count)
	if err == nil {
		err = send()
	}
	if werr := pool.wait(); err == nil && werr != nil {
		err = fmt.Errorf("restore: %w", werr)
	}
	if err != nil {
		return n.Load(), err
	}
	if n.Load() != docs {
		return n.Load(), fmt.Errorf("restore: part %d of collection %s: %d of %d documents were inserted; load it again", s.Stream, c.Name, n.Load(), docs)
	}
	return docs, nil
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

// scanCollection streams one collection: it authenticates every chunk of each of its streams (one
// in version 1, one per part in version 2), decompresses, splits the BSON documents, hashes them
// and passes each to visit (a fresh slice when own is true, else a reused buffer). It fails unless
// every stream ended with its final chunk and the chunk counts, document counts and SHA-256 sums
// match the manifest. all receives what the manifest's whole-backup digest covers: the documents
// in version 1, the collection's digest in version 2.
func (b *openedBackup) scanCollection(ctx context.Context, c CollectionEntry, all io.Writer, own bool, visit func([]byte) error, progress func(Progress)) (int64, string, error) {
	single := b.m.FormatVersion == formatVersionSingle
	var docs int64
	csum := sha256.New()
	for _, s := range c.streams(b.m.FormatVersion) {
		docAll := io.Discard
		if single {
			docAll = all
		}
		n, digest, err := b.scanStream(ctx, c.Name, s, docAll, own, visit, progress, docs, c.Count)
		docs += n
		if err != nil {
			return docs, "", err
		}
		csum.Write(digest)
	}
	if single {
		// Version 1's collection digest is its one stream's, checked by scanStream.
		return docs, c.PlaintextSHA256, nil
	}
	digest := csum.Sum(nil)
	got := hex.EncodeToString(digest)
	if docs != c.Count {
		return docs, got, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: %d documents in its parts, the manifest says %d", c.Name, docs, c.Count)
	}
	if got != c.PlaintextSHA256 {
		return docs, got, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: SHA-256 of its parts %s differs from the manifest's %s", c.Name, got, c.PlaintextSHA256)
	}
	all.Write(digest)
	return docs, got, nil
}

// scanStream reads one chunk stream of collection c (see scanCollection) and returns its documents
// and the SHA-256 of their bytes, checked against s. before and total place it in the collection
// for progress.
func (b *openedBackup) scanStream(ctx context.Context, c string, s PartEntry, all io.Writer, own bool, visit func([]byte) error, progress func(Progress), before, total int64) (int64, []byte, error) {
	var docs int64
	cr, closer, err := b.openStream(ctx, c, s)
	if err != nil {
		return 0, nil, err
	}
	defer closer.Close()
	zr, err := zstd.NewReader(cr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return 0, nil, err
	}
	defer zr.Close()
	// chunkErr prefers the chunk layer's classified error over the decompressor's wrapping of it.
	chunkErr := func(err error) error {
		if cr.err != nil {
			return cr.err
		}
		return newErr(ErrTampered, err, hintTampered, "collection %s: authenticated data does not decompress", c)
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
			return docs, nil, chunkErr(err)
		}
		l := int(binary.LittleEndian.Uint32(lenBuf[:]))
		if l < 5 || l > maxBSONDocument {
			return docs, nil, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: document %d has an impossible length %d", c, before+docs, l)
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
			return docs, nil, chunkErr(err)
		}
		sum.Write(doc)
		all.Write(doc)
		docs++
		if visit != nil {
			if err := visit(doc); err != nil {
				return docs, nil, err
			}
		}
		if docs%10000 == 0 {
			report(progress, Progress{Phase: "stage", Collection: c, Done: before + docs, Total: total})
		}
	}
	// The decompressor may stop at the end of its frame; make sure the object really ended with
	// its final chunk and nothing follows.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return docs, nil, err
	}
	if !cr.done {
		return docs, nil, newErr(ErrTruncated, nil, hintTruncated, "collection %s: object %s ended without its final chunk", c, s.Object)
	}
	if cr.index != s.Chunks {
		return docs, nil, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: object %s has %d chunks, the manifest says %d", c, s.Object, cr.index, s.Chunks)
	}
	digest := sum.Sum(nil)
	if docs != s.Count {
		return docs, digest, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: %d documents in object %s, the manifest says %d", c, docs, s.Object, s.Count)
	}
	if got := hex.EncodeToString(digest); got != s.PlaintextSHA256 {
		return docs, digest, newErr(ErrManifestMismatch, nil, hintManifest, "collection %s: SHA-256 %s of object %s differs from the manifest's %s", c, got, s.Object, s.PlaintextSHA256)
	}
	return docs, digest, nil
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
