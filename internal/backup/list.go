package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// Summary is one backup as List shows it. It is read from the manifest without unwrapping the data
// key, so its numbers are unauthenticated until Verify or Restore checks them.
type Summary struct {
	BackupID     string           `json:"backupId"`
	Database     string           `json:"database"`
	SourceRegion string           `json:"sourceRegion"`
	CreatedAt    time.Time        `json:"createdAt"`
	Age          time.Duration    `json:"ageNs"`
	StoredBytes  int64            `json:"storedBytes"`
	Documents    int64            `json:"documents"`
	Counts       map[string]int64 `json:"counts"`
	KMSKeyARN    string           `json:"kmsKeyArn"`
	// PlaintextSHA256 is the manifest's checksum of all documents (unauthenticated here).
	PlaintextSHA256 string `json:"plaintextSha256"`
	// Problem is set when the manifest cannot be read; such a backup cannot be restored.
	Problem string `json:"problem,omitempty"`
}

// List returns the backups in store, newest first (by the second their ID names, then by their
// manifest's time). Backups without a manifest (interrupted
// creates) are not listed.
func List(ctx context.Context, store ObjectStore, now time.Time) ([]Summary, error) {
	objs, err := store.List(ctx, BackupPrefix)
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	var ids []string
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, BackupPrefix)
		id, file, ok := strings.Cut(rel, "/")
		if !ok || !ValidBackupID(id) {
			continue
		}
		sizes[id] += o.Size
		if file == path.Base(ManifestKey(id)) {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	out := make([]Summary, 0, len(ids))
	for _, id := range ids {
		s := Summary{BackupID: id, StoredBytes: sizes[id]}
		m, err := readManifest(ctx, store, id)
		if err != nil {
			s.Problem = err.Error()
		} else {
			s.Database, s.SourceRegion, s.CreatedAt, s.Documents, s.KMSKeyARN = m.Database, m.SourceRegion, m.CreatedAt, m.Documents, m.KMSKeyARN
			s.PlaintextSHA256 = m.PlaintextSHA256
			s.Age = now.Sub(m.CreatedAt).Round(time.Second)
			s.Counts = map[string]int64{}
			for _, c := range m.Collections {
				s.Counts[c.Name] = c.Count
			}
		}
		out = append(out, s)
	}
	// An ID names its second and a random suffix: within one second the manifest's time orders
	// them, so the newest is the one taken last.
	slices.SortStableFunc(out, func(a, b Summary) int {
		if c := strings.Compare(b.BackupID[:idTimeLen], a.BackupID[:idTimeLen]); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out, nil
}

// idTimeLen is the length of a backup ID's time (NewBackupID: 20060102T150405Z).
const idTimeLen = len("20060102T150405Z")

// readManifest parses a manifest without authenticating it (for listing only).
func readManifest(ctx context.Context, store ObjectStore, id string) (Manifest, error) {
	var m Manifest
	rc, err := store.Get(ctx, ManifestKey(id))
	if err != nil {
		return m, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	return m, nil
}
