package backup

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// openWith opens f's backup accepting keys.
func openWith(f fixture, keys ...string) error {
	_, err := Open(context.Background(), ReadOptions{BackupID: f.m.BackupID, Store: f.store, KMS: f.kms, AllowedKeys: keys})
	return err
}

// TestManifestAuthenticationCoversItsExactBytes (issue 17 item 7): encoding/json matches field
// names in any letter case and ignores unknown fields, so before the fix a manifest with a field
// name in another case, or an added field, decoded to the same struct and its MAC verified.
func TestManifestAuthenticationCoversItsExactBytes(t *testing.T) {
	f := newBackup(t, 10)
	good := objectBytes(t, f.store, ManifestKey(f.m.BackupID))
	if err := openWith(f, keyARN); err != nil {
		t.Fatalf("intact manifest: %v", err)
	}
	for _, c := range []struct{ name, old, new string }{
		{"a field name in upper case", `"documents":`, `"DOCUMENTS":`},
		{"a field name in another case", `"backupId":`, `"BackupID":`},
		{"an unknown field added", `"cipher":`, `"note": "restore me",` + "\n  " + `"cipher":`},
		{"a field repeated (the last one wins when decoding)", `"compression": "zstd",`, `"compression": "zstd",` + "\n  " + `"compression": "zstd",`},
		{"a nested field name in another case", `"count":`, `"Count":`},
		{"whitespace changed", "\n  \"cipher\"", "\n    \"cipher\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(good), c.old) {
				t.Fatalf("manifest lacks %q", c.old)
			}
			// GIVEN the stored manifest with only this change
			putObject(t, f.store, ManifestKey(f.m.BackupID), []byte(strings.Replace(string(good), c.old, c.new, 1)))
			defer putObject(t, f.store, ManifestKey(f.m.BackupID), good)
			// WHEN it is opened THEN it is refused as a damaged or tampered manifest, saying where
			err := openWith(f, keyARN)
			if !errors.Is(err, ErrManifestMismatch) || !strings.Contains(err.Error(), "tampered") || !strings.Contains(err.Error(), "first difference at line") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestARemovedWrappedKeyIsADamagedManifest (issue 17 item 8): before the fix an empty wrapped data
// key reached KMS, whose validation error was reported as "wrong KMS key for this backup" with an
// IAM hint.
func TestARemovedWrappedKeyIsADamagedManifest(t *testing.T) {
	f := newBackup(t, 10)
	for _, c := range []struct {
		name string
		edit func(*Manifest)
		want error
	}{
		{"removed", func(m *Manifest) { m.WrappedDataKey = nil }, ErrManifestMismatch},
		{"emptied", func(m *Manifest) { m.WrappedDataKey = []byte{} }, ErrManifestMismatch},
		{"cut short", func(m *Manifest) { m.WrappedDataKey = m.WrappedDataKey[:8] }, ErrEncryptionContext},
		{"bytes changed", func(m *Manifest) { m.WrappedDataKey[len(m.WrappedDataKey)-3] ^= 1 }, ErrEncryptionContext},
	} {
		t.Run(c.name, func(t *testing.T) {
			good := objectBytes(t, f.store, ManifestKey(f.m.BackupID))
			defer putObject(t, f.store, ManifestKey(f.m.BackupID), good)
			editManifest(t, f, c.edit)
			err := openWith(f, keyARN)
			if !errors.Is(err, c.want) || errors.Is(err, ErrWrongKey) || errors.Is(err, ErrKMSUnavailable) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			for _, says := range []string{"damaged", "tampered"} {
				if !strings.Contains(err.Error(), says) {
					t.Errorf("message %q does not say %q", err, says)
				}
			}
			if strings.Contains(err.Error(), "kms:Decrypt") {
				t.Errorf("message %q points at IAM", err)
			}
		})
	}
}

// TestRestoresAcceptOnlyTheGivenKeys (issue 17 item 4): before the fix, a restore without a pinned
// key unwrapped the data key with whatever key the manifest named, so a backup an attacker wrote
// into the bucket with their own KMS key was restored.
func TestRestoresAcceptOnlyTheGivenKeys(t *testing.T) {
	ctx := context.Background()
	// GIVEN a backup written with the attacker's own KMS key into the same bucket
	src := newDB("attack")
	seed(t, src, 5)
	f := fixture{store: newBucket(t), kms: NewAWSKMS(kmsClient), source: src}
	m, err := Create(ctx, CreateOptions{Source: mongoC, Database: src, Store: f.store, KMS: f.kms, KeyID: otherKey, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	// WHEN it is opened accepting the region's key and the peer's THEN it is refused, naming the key
	err = openWith(f, keyARN, "arn:aws:kms:eu-central-1:111122223333:key/mrk-peer")
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), otherKey) || !strings.Contains(err.Error(), keyARN) {
		t.Fatalf("err = %v", err)
	}
	// AND without any accepted key nothing is unwrapped at all: there is no "any key"
	if err := openWith(f); !errors.Is(err, ErrKeysRequired) || !strings.Contains(err.Error(), "--kms-key") {
		t.Fatalf("no keys: %v", err)
	}
	// AND a manifest that names an accepted key but whose data key another key wrapped is damaged
	// or tampered, not a key the operator could add
	editManifest(t, f, func(m *Manifest) { m.KMSKeyARN = keyARN })
	if err := openWith(f, keyARN); !errors.Is(err, ErrEncryptionContext) || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("claimed key: %v", err)
	}
	// AND a backup under one of the accepted keys opens, whichever of them it is (the peer's
	// replica of a multi-Region key shares its key ID with the primary)
	g := newBackup(t, 5)
	if err := openWith(g, otherKey, keyARN); err != nil {
		t.Fatalf("accepted second key: %v", err)
	}
	if err := openWith(g, strings.Replace(keyARN, "eu-west-1", "eu-central-1", 1)); err == nil || errors.Is(err, ErrWrongKey) {
		// local-kms has no replicas: the replica ARN of the same key ID is accepted by the name
		// check and then refused by KMS (it does not exist there), as a KMS problem
		t.Fatalf("replica ARN: %v", err)
	}
}

func TestKeyIDComparesARNsAndIDsOnly(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234":    "mrk-1234",
		"arn:aws:kms:eu-central-1:111122223333:key/mrk-1234": "mrk-1234",
		"mrk-1234":                           "mrk-1234",
		"alias/caro-backup":                  "",
		"arn:aws:kms:eu-west-1:1:alias/caro": "",
		"":                                   "",
	} {
		if got := keyID(in); got != want {
			t.Errorf("keyID(%q) = %q, want %q", in, got, want)
		}
	}
}
