package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// AWSCallerActor is the actor of an AWS caller ARN (STS GetCallerIdentity). The ledger keeps it
// for years, so it must hold no personal data: session and user names often are a person's name or
// e-mail address. It keeps the account and, for an assumed role, the role name, plus a pseudonym of
// the whole ARN.
func AWSCallerActor(arn string) string {
	parts := strings.SplitN(arn, ":", 6) // arn:partition:service:region:account:resource
	if len(parts) != 6 {
		return PseudonymousActor("aws", arn)
	}
	kind := "aws:" + parts[4]
	if res := strings.Split(parts[5], "/"); len(res) >= 2 && res[0] == "assumed-role" {
		kind += ":assumed-role/" + res[1]
	} else if len(res) >= 1 {
		kind += ":" + res[0]
	}
	return PseudonymousActor(kind, arn)
}

// PseudonymousActor is kind plus the first 16 hex digits of SHA-256(identity): a reviewer links it
// to CloudTrail or the host's logins by hashing the candidates; the ledger itself names no one.
func PseudonymousActor(kind, identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return ActorID(kind + ":" + hex.EncodeToString(sum[:8]))
}
