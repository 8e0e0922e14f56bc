package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// IdentityPurpose is the envelope purpose (and encryption-context value) of identity exports.
const IdentityPurpose = "identity-export"

// IdentityRecord is one user of the identity export a failover re-creates in the standby region's
// user pool: who they are (phone), where they belong (tenant, roles) and the subject they had, so
// the application can map old subjects to new ones.
type IdentityRecord struct {
	Phone      string            `json:"phone"`
	TenantID   string            `json:"tenantId"`
	Roles      []string          `json:"roles"`
	OldSubject string            `json:"oldSubject"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// IdentityExportOptions say where an identity export goes and under which key.
type IdentityExportOptions struct {
	Store ObjectStore
	KMS   KMS
	// KeyID is the multi-Region key the writer seals under.
	KeyID string
	// AllowedKeys are the keys the reader accepts (required for reading: the region's backup key
	// and its replica of the peer's); there is no "any key".
	AllowedKeys []string
	// BackupID ties the export to a backup; it is stored as backups/<id>/identities.caroenv.
	BackupID string
	// Region is the source region, bound into the encryption context.
	Region string
}

// IdentityExportKey is the object key of a backup's identity export.
func IdentityExportKey(backupID string) string { return ObjectKey(backupID, "identities.caroenv") }

func identityContext(backupID, region string) map[string]string {
	return map[string]string{"caro:backup-id": backupID, "caro:source-region": region}
}

// WriteIdentityExport seals users (JSON lines) with a fresh KMS data key, encryption context
// {caro:purpose=identity-export, caro:backup-id, caro:source-region}, and stores the envelope
// beside the backup. It returns the object key.
func WriteIdentityExport(ctx context.Context, o IdentityExportOptions, users []IdentityRecord) (string, error) {
	if o.Store == nil || !ValidBackupID(o.BackupID) || o.Region == "" {
		return "", errors.New("identity export: store, a valid backup ID and the region are required")
	}
	var buf bytes.Buffer
	w, _, err := SealStream(ctx, &buf, SealOptions{KMS: o.KMS, KeyID: o.KeyID, Purpose: IdentityPurpose, EncryptionContext: identityContext(o.BackupID, o.Region)})
	if err != nil {
		return "", fmt.Errorf("identity export: %w", err)
	}
	enc := json.NewEncoder(w)
	for _, u := range users {
		if err := enc.Encode(u); err != nil {
			return "", fmt.Errorf("identity export: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	key := IdentityExportKey(o.BackupID)
	if err := o.Store.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return "", fmt.Errorf("identity export: %w", err)
	}
	return key, nil
}

// ReadIdentityExport fetches, authenticates and decodes a backup's identity export. Nothing is
// returned unless every chunk authenticated and the final chunk was seen. Region may be empty to
// accept the region the export names.
func ReadIdentityExport(ctx context.Context, o IdentityExportOptions) ([]IdentityRecord, error) {
	if o.Store == nil || !ValidBackupID(o.BackupID) {
		return nil, errors.New("identity export: store and a valid backup ID are required")
	}
	rc, err := o.Store.Get(ctx, IdentityExportKey(o.BackupID))
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) {
			return nil, newErr(ErrNotFound, err, "write one with the backup (the failover runbook does)", "backup %s has no identity export", o.BackupID)
		}
		return nil, err
	}
	defer rc.Close()
	expect := map[string]string{"caro:backup-id": o.BackupID}
	if o.Region != "" {
		expect["caro:source-region"] = o.Region
	}
	r, _, err := OpenStream(ctx, rc, OpenOptions{KMS: o.KMS, AllowedKeys: o.AllowedKeys, Purpose: IdentityPurpose, ExpectContext: expect})
	if err != nil {
		return nil, err
	}
	// Authenticate everything before decoding anything.
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []IdentityRecord
	sc := bufio.NewScanner(bytes.NewReader(plain))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var u IdentityRecord
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			return nil, fmt.Errorf("identity export: record %d: %w", len(out)+1, err)
		}
		out = append(out, u)
	}
	return out, sc.Err()
}
