package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
)

// envelopeMagic starts every envelope object (format version 1).
const envelopeMagic = "CAROENV1"

// EnvelopeHeader is the cleartext header of an envelope object. Its exact bytes are hashed into
// every chunk's associated data, so changing any field makes the first chunk fail.
type EnvelopeHeader struct {
	Version           int               `json:"version"`
	Purpose           string            `json:"purpose"`
	KMSKeyARN         string            `json:"kmsKeyArn"`
	WrappedKey        []byte            `json:"wrappedKey"`
	EncryptionContext map[string]string `json:"encryptionContext"`
	ChunkSize         int               `json:"chunkSize"`
}

// SealOptions configure SealStream.
type SealOptions struct {
	KMS   KMS
	KeyID string // KMS key ID, ARN or alias (the multi-Region key)
	// Purpose names what is sealed ("identity-export"); it is also put into the encryption context
	// under caro:purpose, so a blob of one purpose cannot be opened as another.
	Purpose string
	// EncryptionContext is added to the data key request (for example caro:backup-id and
	// caro:source-region). Keys must not start with "aws".
	EncryptionContext map[string]string
	ChunkSize         int // 0 means DefaultChunkSize
}

// SealStream starts an envelope-encrypted object on dst: a fresh KMS data key, a header, then
// AES-256-GCM chunks. Write plaintext to the returned writer and Close it to seal the final chunk
// (Close does not close dst). Use OpenStream to read it back.
func SealStream(ctx context.Context, dst io.Writer, o SealOptions) (io.WriteCloser, EnvelopeHeader, error) {
	if o.KMS == nil || o.KeyID == "" || o.Purpose == "" {
		return nil, EnvelopeHeader{}, errors.New("seal: KMS, KeyID and Purpose are required")
	}
	ec := maps.Clone(o.EncryptionContext)
	if ec == nil {
		ec = map[string]string{}
	}
	ec["caro:purpose"] = o.Purpose
	size := o.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	plain, wrapped, arn, err := o.KMS.GenerateDataKey(ctx, o.KeyID, ec)
	if err != nil {
		return nil, EnvelopeHeader{}, fmt.Errorf("seal %s: %w", o.Purpose, err)
	}
	h := EnvelopeHeader{Version: 1, Purpose: o.Purpose, KMSKeyARN: arn, WrappedKey: wrapped, EncryptionContext: ec, ChunkSize: size}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, h, err
	}
	raw := append([]byte(envelopeMagic), binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))...)
	raw = append(raw, hdr...)
	scope := sha256.Sum256(raw)
	aead, err := chunkCipher(plain, "", "envelope")
	clear(plain)
	if err != nil {
		return nil, h, err
	}
	if _, err := dst.Write(raw); err != nil {
		return nil, h, err
	}
	return newChunkWriter(aead, dst, scope[:], 0, size), h, nil
}

// OpenOptions configure OpenStream.
type OpenOptions struct {
	KMS KMS
	// AllowedKeys are the KMS keys the data key may be wrapped under (required: the region's backup
	// key and its replica of the peer's); KMS refuses any other.
	AllowedKeys []string
	// Purpose must equal the purpose the envelope was sealed with.
	Purpose string
	// ExpectContext lists encryption-context entries the envelope must carry (for example the
	// backup ID it belongs to); a mismatch is refused before KMS is called.
	ExpectContext map[string]string
}

// OpenStream reads an envelope header from src, unwraps its data key with KMS and returns a
// reader of the plaintext. The reader returns data only from authenticated chunks and fails with
// ErrTampered or ErrTruncated (at the point of damage) otherwise; read it to io.EOF before
// trusting anything.
func OpenStream(ctx context.Context, src io.Reader, o OpenOptions) (io.Reader, EnvelopeHeader, error) {
	var h EnvelopeHeader
	br := bufio.NewReader(src)
	pre := make([]byte, len(envelopeMagic)+4)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, h, newErr(ErrTruncated, err, hintTruncated, "%s envelope header is cut short", o.Purpose)
	}
	if string(pre[:len(envelopeMagic)]) != envelopeMagic {
		return nil, h, newErr(ErrTampered, nil, hintTampered, "not a Caro envelope (bad magic)")
	}
	n := binary.BigEndian.Uint32(pre[len(envelopeMagic):])
	if n > 1<<20 {
		return nil, h, newErr(ErrTampered, nil, hintTampered, "envelope header length %d is impossible", n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, h, newErr(ErrTruncated, err, hintTruncated, "%s envelope header is cut short", o.Purpose)
	}
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, h, newErr(ErrTampered, err, hintTampered, "envelope header is not valid JSON")
	}
	if h.Version != 1 {
		return nil, h, newErr(ErrManifestMismatch, nil, "upgrade caro", "envelope format version %d is not supported (want 1)", h.Version)
	}
	if h.Purpose != o.Purpose || h.EncryptionContext["caro:purpose"] != o.Purpose {
		return nil, h, newErr(ErrEncryptionContext, nil, hintContext, "envelope was sealed for %q, not %q", h.Purpose, o.Purpose)
	}
	for k, v := range o.ExpectContext {
		if h.EncryptionContext[k] != v {
			return nil, h, newErr(ErrEncryptionContext, nil, hintContext, "envelope context %s=%q, expected %q", k, h.EncryptionContext[k], v)
		}
	}
	if h.ChunkSize <= 0 || h.ChunkSize > maxChunkSize {
		return nil, h, newErr(ErrTampered, nil, hintTampered, "envelope chunk size %d is impossible", h.ChunkSize)
	}
	plain, err := unwrapDataKey(ctx, o.KMS, unwrap{allowed: o.AllowedKeys, claimed: h.KMSKeyARN, wrapped: h.WrappedKey, ec: h.EncryptionContext,
		what: "the " + o.Purpose + " envelope", damaged: ErrTampered})
	if err != nil {
		return nil, h, err
	}
	aead, err := chunkCipher(plain, "", "envelope")
	clear(plain)
	if err != nil {
		return nil, h, err
	}
	scope := sha256.Sum256(append(pre, hdr...))
	return newChunkReader(aead, br, scope[:], 0, h.ChunkSize, o.Purpose+" envelope"), h, nil
}
