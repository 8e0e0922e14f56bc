package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
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
	got, err := ReadIdentityExport(context.Background(), IdentityExportOptions{Store: store, KMS: NewAWSKMS(kmsClient), AllowedKeys: []string{otherKey, keyARN}, BackupID: id})
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
	// the same export sealed by someone with their own KMS key
	buf = bytes.Buffer{}
	w, _, err = SealStream(context.Background(), &buf, SealOptions{KMS: k, KeyID: otherKey, Purpose: IdentityPurpose, EncryptionContext: identityContext(id, testRegion), ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(`{"phone":"+31600"}` + "\n"))
	w.Close()
	attacker := bytes.Clone(buf.Bytes())
	key := IdentityExportKey(id)
	read := func(o IdentityExportOptions) error {
		o.Store, o.KMS, o.BackupID = store, k, id
		if o.AllowedKeys == nil {
			o.AllowedKeys = []string{keyARN}
		}
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
		{"under a key readers do not accept", good, IdentityExportOptions{AllowedKeys: []string{otherKey}}, ErrWrongKey},
		{"no accepted key", good, IdentityExportOptions{AllowedKeys: []string{}}, ErrKeysRequired},
		{"written under an attacker's key", attacker, IdentityExportOptions{}, ErrWrongKey},
		{"wrapped key removed", withoutWrappedKey(t, good), IdentityExportOptions{}, ErrTampered},
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
	_, _, err = OpenStream(context.Background(), bytes.NewReader(good), OpenOptions{KMS: k, AllowedKeys: []string{keyARN}, Purpose: "backup-notes"})
	if !errors.Is(err, ErrEncryptionContext) {
		t.Fatalf("purpose confusion: %v", err)
	}
}

// withoutWrappedKey returns the envelope env with its header's wrapped data key removed (the header
// re-encoded with its length, so only the key is missing).
func withoutWrappedKey(t *testing.T, env []byte) []byte {
	t.Helper()
	n := binary.BigEndian.Uint32(env[len(envelopeMagic):])
	start := len(envelopeMagic) + 4
	var h EnvelopeHeader
	if err := json.Unmarshal(env[start:start+int(n)], &h); err != nil {
		t.Fatal(err)
	}
	h.WrappedKey = nil
	hdr, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(envelopeMagic), binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))...)
	out = append(out, hdr...)
	return append(out, env[start+int(n):]...)
}
