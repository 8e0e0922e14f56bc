package backup

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestIdentityExportRoundTrip(t *testing.T) {
	// GIVEN users of the primary region's pool
	store := newBucket(t)
	id := NewBackupID(time.Now())
	users := []IdentityRecord{
		{Phone: "+31612345678", TenantID: "t1", Roles: []string{"clinician"}, OldSubject: "sub-1"},
		{Phone: "+31687654321", TenantID: "t2", Roles: []string{"admin", "clinician"}, OldSubject: "sub-2", Attributes: map[string]string{"locale": "nl"}},
	}
	o := IdentityExportOptions{Store: store, KMS: NewAWSKMS(kmsClient), KeyID: keyARN, BackupID: id, Region: testRegion}
	// WHEN they are exported and read back
	key, err := WriteIdentityExport(context.Background(), o, users)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(objectBytes(t, store, key), []byte("+3161")) {
		t.Fatal("identity export stores phone numbers in plaintext")
	}
	got, err := ReadIdentityExport(context.Background(), IdentityExportOptions{Store: store, KMS: NewAWSKMS(kmsClient), BackupID: id})
	// THEN the same users come back
	if err != nil || len(got) != 2 || got[1].Phone != users[1].Phone || !slices.Equal(got[1].Roles, users[1].Roles) || got[1].Attributes["locale"] != "nl" {
		t.Fatalf("read = %+v, %v", got, err)
	}
}

func TestIdentityExportDamage(t *testing.T) {
	store := newBucket(t)
	k := NewAWSKMS(kmsClient)
	id := NewBackupID(time.Now())
	users := make([]IdentityRecord, 2000)
	for i := range users {
		users[i] = IdentityRecord{Phone: "+3160000", TenantID: "t", OldSubject: "s"}
	}
	// small chunks so the export has several
	var buf bytes.Buffer
	w, _, err := SealStream(context.Background(), &buf, SealOptions{KMS: k, KeyID: keyARN, Purpose: IdentityPurpose, EncryptionContext: identityContext(id, testRegion), ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		w.Write(bytes.Repeat([]byte(`{"phone":"+31600"}`+"\n"), 10))
	}
	w.Close()
	good := buf.Bytes()
	key := IdentityExportKey(id)
	read := func(o IdentityExportOptions) error {
		o.Store, o.KMS, o.BackupID = store, k, id
		_, err := ReadIdentityExport(context.Background(), o)
		return err
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	cases := []struct {
		name string
		obj  []byte
		o    IdentityExportOptions
		want error
	}{
		{"intact", good, IdentityExportOptions{}, nil},
		{"tampered chunk", flip(len(good) - 500), IdentityExportOptions{}, ErrTampered},
		{"header edited", bytes.Replace(good, []byte(`"chunkSize":1024`), []byte(`"chunkSize":1025`), 1), IdentityExportOptions{}, ErrTampered},
		{"truncated", good[:len(good)-1500], IdentityExportOptions{}, ErrTruncated},
		{"wrong key", good, IdentityExportOptions{KeyID: otherKey}, ErrWrongKey},
		{"other region expected", good, IdentityExportOptions{Region: "eu-central-1"}, ErrEncryptionContext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			putObject(t, store, key, c.obj)
			err := read(c.o)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// A backup envelope cannot be opened as another purpose.
	_, _, err = OpenStream(context.Background(), bytes.NewReader(good), OpenOptions{KMS: k, Purpose: "backup-notes"})
	if !errors.Is(err, ErrEncryptionContext) {
		t.Fatalf("purpose confusion: %v", err)
	}
}
