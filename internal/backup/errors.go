package backup

import (
	"errors"
	"fmt"
)

// Sentinel errors: every failure the package reports wraps exactly one of them, so callers (the
// CLI, the failover runbook) can react with errors.Is and still print a message that says what
// happened, why, and what to do.
var (
	// ErrTampered: a chunk or envelope did not authenticate (altered, reordered or swapped in).
	ErrTampered = errors.New("backup data failed authentication")
	// ErrTruncated: an object ends before its final chunk, or has bytes after it.
	ErrTruncated = errors.New("backup object is truncated")
	// ErrWrongKey: the data key is wrapped under a KMS key that restores do not accept (the
	// manifest names it), or under none of the accepted keys.
	ErrWrongKey = errors.New("backup is encrypted under a KMS key restores do not accept")
	// ErrKeysRequired: the caller named no accepted KMS key. A restore always knows which keys may
	// have encrypted the backups (the region's backup key and its replica of the peer's); there is
	// no "any key" path.
	ErrKeysRequired = errors.New("no accepted KMS key was given")
	// ErrKMSUnavailable: KMS refused access or could not be reached (IAM, a disabled key, network).
	ErrKMSUnavailable = errors.New("KMS could not unwrap the data key")
	// ErrEncryptionContext: the encryption context (backup ID, source region) does not match the
	// one the data key was wrapped with.
	ErrEncryptionContext = errors.New("encryption context does not match")
	// ErrManifestMismatch: the manifest is malformed, fails its MAC, names another backup, or the
	// data disagrees with it (counts, checksums).
	ErrManifestMismatch = errors.New("backup does not match its manifest")
	// ErrTargetUnreachable: the target MongoDB cannot be reached.
	ErrTargetUnreachable = errors.New("target database is unreachable")
	// ErrTargetNotEmpty: a database that must be empty (Verify's scratch database) is not.
	ErrTargetNotEmpty = errors.New("target database is not empty")
	// ErrNotFound: no backup with that ID exists in the store.
	ErrNotFound = errors.New("backup not found")
)

// Error is the error type the package returns: Kind is one of the sentinel errors above, Detail
// says what happened, Hint what to do. Err is the underlying cause, if any.
type Error struct {
	Kind   error
	Detail string
	Hint   string
	Err    error
}

func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind error, err error, hint string, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Hint: hint, Err: err}
}

const (
	hintTampered       = "the backup object was altered or damaged; do not use it: restore an older backup or the replicated copy in the standby region, and investigate the bucket's access logs"
	hintTruncated      = "the object was cut short (interrupted upload or copy); restore another backup or the replicated copy, then re-run the backup"
	hintWrongKey       = "do not restore this backup: nobody but the platform's backup keys may have written it; if it is genuine, add its key to the accepted keys (--kms-key, the region's backup key and its replica of the peer's), otherwise investigate who wrote it (the bucket's access logs)"
	hintKeysRequired   = "pass the keys backups may be encrypted under: the region's backup key and its replica of the peer region's key (--kms-key, repeatable; the BackupKeyArn outputs of both platform stacks)"
	hintKMSUnavailable = "check that the role may kms:Decrypt with the key, that the key is enabled and KMS reachable, then retry; nothing was written"
	hintContext        = "the manifest's wrapped data key, backup ID or source region was changed, or the object was copied under another name: use the original manifest (the bucket is versioned) or another backup"
	hintManifest       = "the manifest is damaged or was tampered with, or belongs to another backup: do not use it; fetch the original (the bucket is versioned) or restore another backup, and investigate the bucket's access logs"
	hintTarget         = "check the target URI, network path and credentials, then retry; nothing was written"
	hintNotFoundID     = "run `caro backup list` to see the available backups"
)
