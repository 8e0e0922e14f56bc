package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestChunkDamageIsNamedForTheOperator: besides its kind, the error says what happened to the
// stream, so the operator knows whether to look for a cut copy or for tampering: data appended after
// the final chunk, a chunk altered in place, a cut at a chunk boundary.
func TestChunkDamageIsNamedForTheOperator(t *testing.T) {
	key := testKey(t)
	plain := make([]byte, 450)
	rand.Read(plain)
	ct := sealed(t, key, plain, "backup-1", 0, 100) // 5 chunks
	fr := frames(ct)
	flipped := bytes.Clone(ct)
	flipped[len(fr[0])+10] ^= 1
	for _, c := range []struct {
		name, says, never string
		ct                []byte
	}{
		{"data appended after final", "data appended after its final chunk 4", "is altered", bytes.Join([][]byte{ct, fr[1]}, nil)},
		{"flipped bit in chunk 1", "chunk 1 is altered, reordered or from another backup", "appended", flipped},
		{"cut at a chunk boundary", "ends after chunk 2, which is not the final chunk", "altered", bytes.Join(fr[:3], nil)},
	} {
		_, err := opened(t, key, c.ct, "backup-1", 0, 100)
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), c.never) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.says)
		}
	}
}

// TestEnvelopeHeaderLengthLimit: an envelope header may be up to 1 MiB; a longer length field is
// damage, refused before reading it.
func TestEnvelopeHeaderLengthLimit(t *testing.T) {
	header := func(n uint32) []byte {
		b := []byte(envelopeMagic)
		return binary.BigEndian.AppendUint32(b, n)
	}
	_, _, err := OpenStream(context.Background(), bytes.NewReader(header(1<<20)), OpenOptions{Purpose: "backup"})
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "envelope header is cut short") {
		t.Fatalf("a 1 MiB header length without its header: %v, want it cut short", err)
	}
	_, _, err = OpenStream(context.Background(), bytes.NewReader(header(1<<20+1)), OpenOptions{Purpose: "backup"})
	if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "envelope header length 1048577 is impossible") {
		t.Fatalf("a header length over 1 MiB: %v", err)
	}
}

// TestEnvelopeChunkSizeLimits: an envelope's chunk size is at least 1 byte and at most
// maxChunkSize (64 MiB); outside that the header is damage, refused before any key is asked for.
func TestEnvelopeChunkSizeLimits(t *testing.T) {
	envelope := func(chunkSize int) []byte {
		hdr, _ := json.Marshal(EnvelopeHeader{Version: 1, Purpose: "backup", KMSKeyARN: "arn:aws:kms:eu-central-1:111122223333:key/k",
			WrappedKey: []byte("wrapped"), EncryptionContext: map[string]string{"caro:purpose": "backup"}, ChunkSize: chunkSize})
		b := binary.BigEndian.AppendUint32([]byte(envelopeMagic), uint32(len(hdr)))
		return append(b, hdr...)
	}
	for _, size := range []int{0, -1, maxChunkSize + 1} {
		_, _, err := OpenStream(context.Background(), bytes.NewReader(envelope(size)), OpenOptions{Purpose: "backup"})
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "chunk size") {
			t.Errorf("chunk size %d: %v, want it refused as impossible", size, err)
		}
	}
	for _, size := range []int{1, maxChunkSize} {
		_, _, err := OpenStream(context.Background(), bytes.NewReader(envelope(size)), OpenOptions{Purpose: "backup"})
		if err == nil || strings.Contains(err.Error(), "chunk size") || !errors.Is(err, ErrKeysRequired) {
			t.Errorf("chunk size %d: %v, want it past the size check (refused for want of accepted keys)", size, err)
		}
	}
}
