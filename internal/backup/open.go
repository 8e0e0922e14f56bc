package backup

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"maps"
)

// openedBackup is a backup whose manifest authenticated: its chunks can be read.
type openedBackup struct {
	m Manifest
	// aeads are the chunk ciphers by stream: one for every stream of version 1, one per part's
	// attempt in version 2.
	aeads map[uint32]cipher.AEAD
	store ObjectStore
}

// openBackup fetches and authenticates a backup's manifest: canonical bytes and shape, encryption
// context, data key unwrap (KMS, under one of the allowed keys only) and MAC, in that order, before
// anything else is read.
func openBackup(ctx context.Context, store ObjectStore, k KMS, allowed []string, id string) (*openedBackup, error) {
	if store == nil || k == nil {
		return nil, errors.New("backup: object store and KMS are required")
	}
	if !ValidBackupID(id) {
		return nil, newErr(ErrNotFound, nil, hintNotFoundID, "%q is not a backup ID (want e.g. 20260102T030405Z-1a2b3c4d)", id)
	}
	rc, err := store.Get(ctx, ManifestKey(id))
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) {
			return nil, newErr(ErrNotFound, err, hintNotFoundID, "no manifest for backup %s", id)
		}
		return nil, fmt.Errorf("backup %s: reading manifest: %w", id, err)
	}
	body, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("backup %s: reading manifest: %w", id, err)
	}
	m, err := parseManifest(body, id)
	if err != nil {
		return nil, err
	}
	want := backupContext(m.BackupID, m.SourceRegion)
	if !maps.Equal(want, m.EncryptionContext) {
		return nil, newErr(ErrEncryptionContext, nil, hintContext, "manifest of %s carries encryption context %v, expected %v", id, m.EncryptionContext, want)
	}
	dataKey, err := unwrapDataKey(ctx, k, unwrap{allowed: allowed, claimed: m.KMSKeyARN, wrapped: m.WrappedDataKey, ec: want,
		what: "the manifest of backup " + id, damaged: ErrManifestMismatch})
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	macKey, err := deriveKey(dataKey, m.BackupID, "manifest")
	if err != nil {
		return nil, err
	}
	if !m.checkMAC(macKey) {
		return nil, newErr(ErrManifestMismatch, nil, hintManifest, "manifest of %s fails its MAC: a field was changed after the backup was written, or the wrapped key was replaced", id)
	}
	b := &openedBackup{m: m, aeads: map[uint32]cipher.AEAD{}, store: store}
	for _, c := range m.Collections {
		for _, s := range c.streams(m.FormatVersion) {
			purpose := "chunks"
			if m.FormatVersion != formatVersionSingle {
				purpose += " " + s.Attempt
			}
			if b.aeads[s.Stream], err = chunkCipher(dataKey, m.BackupID, purpose); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// openStream returns the authenticating chunk reader (still compressed) of one chunk stream of
// collection c: its object in version 1, a part's in version 2.
func (b *openedBackup) openStream(ctx context.Context, c string, s PartEntry) (*chunkReader, io.Closer, error) {
	rc, err := b.store.Get(ctx, ObjectKey(b.m.BackupID, s.Object))
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) {
			return nil, nil, newErr(ErrTruncated, err, hintTruncated, "backup %s: object %s of collection %s is missing", b.m.BackupID, s.Object, c)
		}
		return nil, nil, fmt.Errorf("backup %s: reading %s: %w", b.m.BackupID, s.Object, err)
	}
	name := fmt.Sprintf("collection %s (object %s)", c, s.Object)
	return newChunkReader(b.aeads[s.Stream], rc, []byte(b.m.BackupID), s.Stream, b.m.ChunkSize, name), rc, nil
}
