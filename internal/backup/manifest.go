package backup

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"time"
)

// FormatVersion is the backup format this package writes: version 2, whose collections are
// sealed in parts (one object per _id range, written by its own worker). It reads version 1 too
// (one object per collection, written by one process).
const (
	FormatVersion       = 2
	formatVersionSingle = 1
)

// Manifest describes one backup. It is stored as JSON beside the data (backups/<id>/manifest.json)
// and authenticated with an HMAC-SHA256 (MAC) under a key derived from the backup's data key, so
// nobody without kms:Decrypt on the key can alter a count, a checksum or an index definition. A
// restore accepts only the exact bytes Create writes (parseManifest): no unknown field, no field
// name in another letter case, no other formatting. Fields added in a later format must be
// omitempty, so older manifests keep their exact form.
type Manifest struct {
	FormatVersion     int               `json:"formatVersion"`
	BackupID          string            `json:"backupId"`
	Database          string            `json:"database"`
	SourceRegion      string            `json:"sourceRegion"`
	CreatedAt         time.Time         `json:"createdAt"`
	CompletedAt       time.Time         `json:"completedAt"`
	KMSKeyARN         string            `json:"kmsKeyArn"`
	WrappedDataKey    []byte            `json:"wrappedDataKey"`
	EncryptionContext map[string]string `json:"encryptionContext"`
	Compression       string            `json:"compression"` // "zstd"
	Cipher            string            `json:"cipher"`      // "AES-256-GCM"
	ChunkSize         int               `json:"chunkSize"`
	Collections       []CollectionEntry `json:"collections"`
	// Documents is the sum of the collections' counts.
	Documents int64 `json:"documents"`
	// PlaintextSHA256 is, in version 1, the SHA-256 of all collections' plaintext BSON streams
	// concatenated in manifest order; in version 2 the SHA-256 of the collections' digests
	// (CollectionEntry.PlaintextSHA256, 32 bytes each) concatenated in manifest order.
	PlaintextSHA256 string `json:"plaintextSha256"`
	// StoredBytes is the sum of the collections' object sizes.
	StoredBytes int64 `json:"storedBytes"`
	// MAC is hex HMAC-SHA256 over the manifest's JSON with MAC empty.
	MAC string `json:"mac"`
}

// CollectionEntry is one collection of a backup.
type CollectionEntry struct {
	Name string `json:"name"`
	// Stream, Object and Chunks are version 1's one chunk stream of the collection (its number,
	// bound into every chunk, and its object relative to the backup prefix); zero in version 2,
	// where Parts carry them.
	Stream uint32 `json:"stream"`
	Object string `json:"object"`
	Count  int64  `json:"count"`
	// PlaintextSHA256 is, in version 1, the SHA-256 of the collection's documents as BSON,
	// concatenated; in version 2 the SHA-256 of its parts' digests (32 bytes each) in order.
	PlaintextSHA256 string `json:"plaintextSha256"`
	Chunks          uint64 `json:"chunks"`
	StoredBytes     int64  `json:"storedBytes"`
	// Indexes are the collection's index specifications (listIndexes output minus _id_) in
	// canonical extended JSON, recreated on restore.
	Indexes []json.RawMessage `json:"indexes,omitempty"`
	// Options are the collection's creation options (listCollections) in canonical extended JSON.
	Options json.RawMessage `json:"options,omitempty"`
	// Parts (version 2) are the collection's _id ranges in order, each sealed by its own worker.
	Parts []PartEntry `json:"parts,omitempty"`
}

// PartEntry is one part of a version 2 collection: its documents in [Lo, Hi) of _id (open ends
// empty), sealed as one chunk stream in its own object under the key of its worker's attempt.
type PartEntry struct {
	Stream  uint32          `json:"stream"`
	Object  string          `json:"object"`
	Attempt string          `json:"attempt"`
	Lo      json.RawMessage `json:"lo,omitempty"`
	Hi      json.RawMessage `json:"hi,omitempty"`
	Count   int64           `json:"count"`
	// PlaintextSHA256 is the SHA-256 of the part's documents as BSON, concatenated as stored.
	PlaintextSHA256 string `json:"plaintextSha256"`
	Chunks          uint64 `json:"chunks"`
	StoredBytes     int64  `json:"storedBytes"`
}

// streams returns the chunk streams of a collection: its parts in version 2, else itself.
func (c CollectionEntry) streams(version int) []PartEntry {
	if version == formatVersionSingle {
		return []PartEntry{{Stream: c.Stream, Object: c.Object, Count: c.Count, PlaintextSHA256: c.PlaintextSHA256, Chunks: c.Chunks, StoredBytes: c.StoredBytes}}
	}
	return c.Parts
}

// BackupPrefix is where all backups live in the bucket.
const BackupPrefix = "backups/"

var (
	backupIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)
	attemptPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// ValidBackupID reports whether id has the shape NewBackupID produces (so it is safe in an object
// key and a database name).
func ValidBackupID(id string) bool { return backupIDPattern.MatchString(id) }

// ManifestKey is the object key of a backup's manifest.
func ManifestKey(id string) string { return path.Join(BackupPrefix, id, "manifest.json") }

// ObjectKey is the object key of one of a backup's data objects.
func ObjectKey(id, object string) string { return path.Join(BackupPrefix, id, object) }

// backupContext is the KMS encryption context of a backup's data key. It is derived from the
// manifest's ID and region, never read from the manifest, so editing either makes KMS refuse.
func backupContext(id, region string) map[string]string {
	return map[string]string{
		"caro:purpose":       "backup",
		"caro:backup-id":     id,
		"caro:source-region": region,
	}
}

// encodeManifest is the manifest's one byte form: what Create stores and the only form a restore
// accepts (see parseManifest).
func encodeManifest(m Manifest) ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// parseManifest decodes a stored manifest and checks, before any key is unwrapped, that its bytes
// are exactly the canonical encoding of what was decoded (encodeManifest) and that its shape is
// possible. The MAC covers the decoded struct, so the byte comparison is what makes it cover the
// stored bytes: encoding/json matches field names in any letter case and ignores unknown fields, so
// a manifest with "BackupID" for "backupId", an added field or a duplicated key would otherwise
// decode to the same struct and verify.
func parseManifest(body []byte, id string) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return m, newErr(ErrManifestMismatch, err, hintManifest, "manifest of %s is not valid JSON", id)
	}
	canonical, err := encodeManifest(m)
	if err != nil {
		return m, newErr(ErrManifestMismatch, err, hintManifest, "manifest of %s cannot be encoded again", id)
	}
	if !bytes.Equal(canonical, body) {
		return m, newErr(ErrManifestMismatch, nil, hintManifest, "manifest of %s is not byte for byte the form backups are written in (%s): "+
			"an unknown field, a field name in another letter case, a repeated field or other edited bytes; it is damaged or was tampered with", id, firstDifference(canonical, body))
	}
	if err := m.checkShape(id); err != nil {
		return m, err
	}
	return m, nil
}

// firstDifference says where two byte strings first differ (line and column of b), for a message.
func firstDifference(a, b []byte) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	line := 1 + bytes.Count(b[:i], []byte("\n"))
	col := i - bytes.LastIndexByte(b[:i], '\n')
	return fmt.Sprintf("first difference at line %d, column %d", line, col)
}

func (m *Manifest) macInput() ([]byte, error) {
	c := *m
	c.MAC = ""
	return json.Marshal(c)
}

func (m *Manifest) computeMAC(macKey []byte) (string, error) {
	in, err := m.macInput()
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, macKey)
	h.Write(in)
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// checkMAC reports whether the manifest's MAC matches under macKey (constant time).
func (m *Manifest) checkMAC(macKey []byte) bool {
	want, err := m.computeMAC(macKey)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(want), []byte(m.MAC))
}

// checkShape validates what can be checked before any key is unwrapped.
func (m *Manifest) checkShape(wantID string) error {
	if m.FormatVersion != FormatVersion && m.FormatVersion != formatVersionSingle {
		return newErr(ErrManifestMismatch, nil, "use a caro build that reads this format", "manifest format version %d is not supported (this build reads %d and %d)", m.FormatVersion, formatVersionSingle, FormatVersion)
	}
	if wantID != "" && m.BackupID != wantID {
		return newErr(ErrManifestMismatch, nil, hintManifest, "manifest stored under %s names backup %s", wantID, m.BackupID)
	}
	if m.ChunkSize <= 0 || m.ChunkSize > maxChunkSize {
		return newErr(ErrManifestMismatch, nil, hintManifest, "manifest chunk size %d is impossible", m.ChunkSize)
	}
	if m.Compression != "zstd" || m.Cipher != "AES-256-GCM" {
		return newErr(ErrManifestMismatch, nil, hintManifest, "manifest names %s/%s, want zstd/AES-256-GCM", m.Compression, m.Cipher)
	}
	seen := map[uint32]bool{}
	for _, c := range m.Collections {
		if m.FormatVersion != formatVersionSingle && (c.Object != "" || c.Stream != 0 || c.Chunks != 0 || len(c.Parts) == 0) {
			return newErr(ErrManifestMismatch, nil, hintManifest, "collection %s of a version %d manifest must be listed by its parts", c.Name, m.FormatVersion)
		}
		if m.FormatVersion == formatVersionSingle && len(c.Parts) > 0 {
			return newErr(ErrManifestMismatch, nil, hintManifest, "collection %s of a version 1 manifest lists parts", c.Name)
		}
		for _, s := range c.streams(m.FormatVersion) {
			if seen[s.Stream] {
				return newErr(ErrManifestMismatch, nil, hintManifest, "manifest lists stream %d twice", s.Stream)
			}
			seen[s.Stream] = true
			if m.FormatVersion != formatVersionSingle && (!attemptPattern.MatchString(s.Attempt) || s.Object != partObject(s.Stream, s.Attempt)) {
				return newErr(ErrManifestMismatch, nil, hintManifest, "part %d of collection %s names object %q of attempt %q", s.Stream, c.Name, s.Object, s.Attempt)
			}
		}
	}
	return nil
}

// ObjectKeys returns the keys of the objects that hold collection name's documents, in order (one
// in version 1, one per part in version 2); none when the backup has no such collection.
func (m Manifest) ObjectKeys(name string) []string {
	var out []string
	for _, c := range m.Collections {
		if c.Name != name {
			continue
		}
		for _, s := range c.streams(m.FormatVersion) {
			out = append(out, ObjectKey(m.BackupID, s.Object))
		}
	}
	return out
}
