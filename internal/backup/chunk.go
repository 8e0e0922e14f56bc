package backup

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultChunkSize is the plaintext size of every chunk but the last (1 MiB of compressed data):
// large enough that the 16-byte tag and 4-byte frame header are noise, small enough that a reader
// holds only one chunk in memory.
const DefaultChunkSize = 1 << 20

// maxChunkSize bounds what a reader accepts from a manifest or header, so a damaged length cannot
// make it allocate gigabytes.
const maxChunkSize = 64 << 20

const (
	frameHeaderLen = 4
	tagLen         = 16
	finalBit       = uint64(1) << 63
)

// deriveKey derives a purpose-bound 32-byte key from a KMS data key (HKDF-SHA256), so the chunk
// key and the manifest MAC key never coincide.
func deriveKey(dataKey []byte, salt, purpose string) ([]byte, error) {
	if len(dataKey) != 32 {
		return nil, fmt.Errorf("data key has %d bytes, want 32 (AES_256)", len(dataKey))
	}
	return hkdf.Key(sha256.New, dataKey, []byte(salt), "caro-backup-v1 "+purpose, 32)
}

// chunkCipher returns the AES-256-GCM AEAD of the chunks sealed under dataKey for purpose: the
// one place a data key becomes a cipher, for backups and envelopes alike.
func chunkCipher(dataKey []byte, salt, purpose string) (cipher.AEAD, error) {
	key, err := deriveKey(dataKey, salt, purpose)
	if err != nil {
		return nil, err
	}
	defer clear(key) // the cipher keeps its own expanded copy
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// chunkNonce is unique per (stream, index, final) under one key: streams are numbered within a
// backup and every backup has its own data key.
func chunkNonce(stream uint32, index uint64, final bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint32(n[0:4], stream)
	if final {
		index |= finalBit
	}
	binary.BigEndian.PutUint64(n[4:12], index)
	return n
}

// chunkAAD binds a chunk to its scope (backup ID or envelope header hash), stream, position and
// finality. The nonce carries the same fields; the AAD makes the binding explicit and independent
// of nonce construction.
func chunkAAD(scope []byte, stream uint32, index uint64, final bool) []byte {
	aad := make([]byte, 0, len(scope)+32)
	aad = append(aad, "caro-chunk-v1\x00"...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(scope)))
	aad = append(aad, scope...)
	aad = binary.BigEndian.AppendUint32(aad, stream)
	aad = binary.BigEndian.AppendUint64(aad, index)
	if final {
		aad = append(aad, 1)
	} else {
		aad = append(aad, 0)
	}
	return aad
}

// chunkWriter seals everything written to it into length-prefixed AES-256-GCM frames of chunkSize
// plaintext bytes. A chunk is sealed only when more data follows it, or at Close, so the last
// chunk (possibly empty) always carries the final marker.
type chunkWriter struct {
	aead      cipher.AEAD
	w         io.Writer
	scope     []byte
	stream    uint32
	chunkSize int
	index     uint64
	buf       []byte
	out       []byte
	written   int64 // ciphertext bytes, frame headers included
	closed    bool
}

func newChunkWriter(aead cipher.AEAD, w io.Writer, scope []byte, stream uint32, chunkSize int) *chunkWriter {
	return &chunkWriter{aead: aead, w: w, scope: scope, stream: stream, chunkSize: chunkSize,
		buf: make([]byte, 0, chunkSize)}
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(c.buf) == c.chunkSize {
			if err := c.seal(false); err != nil {
				return n, err
			}
		}
		k := min(c.chunkSize-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		n += k
	}
	return n, nil
}

func (c *chunkWriter) seal(final bool) error {
	c.out = c.out[:0]
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(len(c.buf)+tagLen))
	c.out = c.aead.Seal(c.out, chunkNonce(c.stream, c.index, final), c.buf, chunkAAD(c.scope, c.stream, c.index, final))
	if _, err := c.w.Write(c.out); err != nil {
		return err
	}
	c.written += int64(len(c.out))
	c.index++
	c.buf = c.buf[:0]
	return nil
}

// Close seals the final chunk. It does not close the underlying writer.
func (c *chunkWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.seal(true)
}

// chunks reports how many chunks were sealed.
func (c *chunkWriter) chunks() uint64 { return c.index }

// chunkReader opens the frames a chunkWriter produced and returns plaintext only from chunks that
// authenticated. It reports ErrTruncated when the stream ends before a final chunk and ErrTampered
// when a chunk fails authentication or bytes follow the final chunk.
type chunkReader struct {
	aead      cipher.AEAD
	r         *bufio.Reader
	scope     []byte
	stream    uint32
	chunkSize int
	name      string // for messages: "collection patients (object backups/x/c0001.bin)"
	index     uint64
	plain     []byte
	plainBuf  []byte
	frame     []byte
	done      bool
	err       error
}

func newChunkReader(aead cipher.AEAD, r io.Reader, scope []byte, stream uint32, chunkSize int, name string) *chunkReader {
	return &chunkReader{aead: aead, r: bufio.NewReaderSize(r, 256<<10), scope: scope, stream: stream,
		chunkSize: chunkSize, name: name}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

func (c *chunkReader) next() error {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return newErr(ErrTruncated, err, hintTruncated, "%s ends after chunk %d without its final chunk", c.name, c.index)
		}
		return fmt.Errorf("reading %s: %w", c.name, err)
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < tagLen || n > c.chunkSize+tagLen {
		return newErr(ErrTampered, nil, hintTampered, "%s chunk %d has an impossible length %d", c.name, c.index, n)
	}
	if cap(c.frame) < n {
		c.frame = make([]byte, n)
	}
	c.frame = c.frame[:n]
	if _, err := io.ReadFull(c.r, c.frame); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return newErr(ErrTruncated, err, hintTruncated, "%s ends inside chunk %d", c.name, c.index)
		}
		return fmt.Errorf("reading %s: %w", c.name, err)
	}
	// The chunk is final exactly when nothing follows it.
	_, peekErr := c.r.Peek(1)
	atEOF := errors.Is(peekErr, io.EOF)
	if peekErr != nil && !atEOF {
		return fmt.Errorf("reading %s: %w", c.name, peekErr)
	}
	// Open into a separate buffer: a failed Open may clear its output, and the frame is needed
	// again below to tell truncation from damage.
	plain, err := c.aead.Open(c.plainBuf[:0], chunkNonce(c.stream, c.index, atEOF), c.frame, chunkAAD(c.scope, c.stream, c.index, atEOF))
	if err != nil {
		if atEOF {
			// Distinguish a cut at a chunk boundary (a valid non-final chunk at the end) from damage.
			if _, err2 := c.aead.Open(nil, chunkNonce(c.stream, c.index, false), c.frame, chunkAAD(c.scope, c.stream, c.index, false)); err2 == nil {
				return newErr(ErrTruncated, nil, hintTruncated, "%s ends after chunk %d, which is not the final chunk", c.name, c.index)
			}
		} else if _, err2 := c.aead.Open(nil, chunkNonce(c.stream, c.index, true), c.frame, chunkAAD(c.scope, c.stream, c.index, true)); err2 == nil {
			return newErr(ErrTampered, nil, hintTampered, "%s has data appended after its final chunk %d", c.name, c.index)
		}
		return newErr(ErrTampered, err, hintTampered, "%s chunk %d is altered, reordered or from another backup", c.name, c.index)
	}
	c.plainBuf = plain
	c.plain = plain
	c.index++
	if atEOF {
		c.done = true
	}
	return nil
}
