package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return key
}

// sealed returns the framed ciphertext of plain in chunks of size.
func sealed(t *testing.T, key, plain []byte, scope string, stream uint32, size int) []byte {
	t.Helper()
	aead, err := chunkCipher(key, "test", "chunks")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := newChunkWriter(aead, &buf, []byte(scope), stream, size)
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func opened(t *testing.T, key, ct []byte, scope string, stream uint32, size int) ([]byte, error) {
	t.Helper()
	aead, err := chunkCipher(key, "test", "chunks")
	if err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(newChunkReader(aead, bytes.NewReader(ct), []byte(scope), stream, size, "test stream"))
}

// frames splits framed ciphertext into its frames (header included).
func frames(ct []byte) [][]byte {
	var out [][]byte
	for len(ct) > 0 {
		n := 4 + int(binary.BigEndian.Uint32(ct))
		out = append(out, ct[:n])
		ct = ct[n:]
	}
	return out
}

func TestChunkRoundTrip(t *testing.T) {
	key := testKey(t)
	for _, n := range []int{0, 1, 99, 100, 101, 1000} {
		// GIVEN n bytes sealed in 100-byte chunks
		plain := make([]byte, n)
		rand.Read(plain)
		ct := sealed(t, key, plain, "backup-1", 3, 100)
		// WHEN they are opened
		got, err := opened(t, key, ct, "backup-1", 3, 100)
		// THEN the plaintext comes back and the chunk count is ceil(n/100) (at least 1: the final chunk)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: round trip failed: %v", n, err)
		}
		want := max(1, (n+99)/100)
		if got := len(frames(ct)); got != want {
			t.Errorf("n=%d: %d chunks, want %d", n, got, want)
		}
	}
}

func TestChunkTamperDetection(t *testing.T) {
	key := testKey(t)
	plain := make([]byte, 450)
	rand.Read(plain)
	ct := sealed(t, key, plain, "backup-1", 0, 100) // 5 chunks
	fr := frames(ct)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := frames(sealed(t, key, plain, "backup-2", 0, 100))
	otherStream := frames(sealed(t, key, plain, "backup-1", 1, 100))
	flipped := bytes.Clone(ct)
	flipped[len(fr[0])+10] ^= 1

	cases := []struct {
		name string
		ct   []byte
		want error
	}{
		{"flipped bit in chunk 1", flipped, ErrTampered},
		{"truncated at chunk boundary", join(fr[0], fr[1], fr[2]), ErrTruncated},
		{"truncated inside a chunk", ct[:len(ct)-7], ErrTruncated},
		{"final chunk dropped", join(fr[0], fr[1], fr[2], fr[3]), ErrTruncated},
		{"empty object", nil, ErrTruncated},
		{"chunks reordered", join(fr[1], fr[0], fr[2], fr[3], fr[4]), ErrTampered},
		{"chunk from another backup", join(fr[0], other[1], fr[2], fr[3], fr[4]), ErrTampered},
		{"chunk from another collection", join(fr[0], otherStream[1], fr[2], fr[3], fr[4]), ErrTampered},
		{"data appended after final", join(ct, fr[1]), ErrTampered},
		{"final chunk moved earlier", join(fr[4]), ErrTampered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// GIVEN a sealed stream damaged as named, WHEN it is opened
			got, err := opened(t, key, c.ct, "backup-1", 0, 100)
			// THEN the damage is reported with its kind and no unauthenticated byte is returned
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !bytes.HasPrefix(plain, got) {
				t.Fatal("returned bytes that are not a prefix of the plaintext")
			}
		})
	}
}

func TestChunkWrongKey(t *testing.T) {
	key := testKey(t)
	ct := sealed(t, key, []byte("patient data"), "b", 0, 100)
	other := make([]byte, 32)
	rand.Read(other)
	if _, err := opened(t, other, ct, "b", 0, 100); !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
}
