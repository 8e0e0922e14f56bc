package ledger

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// field is one length-prefixed field of the canonical encoding.
func field(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// TestCheckpointEncodingFollowsItsVersion: a version 2 checkpoint's encoding starts with the v2 tag
// and its origin (what the signed note's extension line hashes); a version 1 checkpoint's with the
// v1 tag and no origin. Signing and verifying use the same encoding, so a round trip cannot tell
// them apart: only the encoding itself can.
func TestCheckpointEncodingFollowsItsVersion(t *testing.T) {
	c := Checkpoint{Version: 2, Origin: "caro.example/ledger/eu-central-1", Number: 7, FirstSeq: 70, TreeSize: 80, Time: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC), KeyID: "k"}
	v2 := c.Encode()
	if want := append(field(checkpointTagV2), field(c.Origin)...); !bytes.HasPrefix(v2, want) {
		t.Fatalf("version 2 encoding starts %x, want the v2 tag and the origin", v2[:min(len(v2), len(want))])
	}
	c.Version = 1
	v1 := c.Encode()
	if !bytes.HasPrefix(v1, field(checkpointTag)) || bytes.Contains(v1, []byte(c.Origin)) {
		t.Fatalf("version 1 encoding %x: want the v1 tag and no origin", v1)
	}
}

// TestAMalformedHashSaysWhatAHashIs: the refusal of a malformed hash says what is wanted, 64
// lowercase hex digits.
func TestAMalformedHashSaysWhatAHashIs(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("a", 65)} {
		if _, err := ParseHash(s); err == nil || !strings.Contains(err.Error(), "want 64 lowercase hex digits") {
			t.Errorf("ParseHash(%q): %v", s, err)
		}
	}
	if _, err := ParseHash(strings.Repeat("0a", 32)); err != nil {
		t.Fatal(err)
	}
}
