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
	// ErrWrongKey: KMS refused to unwrap the data key with the given key, or the unwrapped key does
	// not authenticate the manifest.
	ErrWrongKey = errors.New("wrong KMS key for this backup")
	// ErrEncryptionContext: the encryption context (backup ID, source region) does not match the
	// one the data key was wrapped with.
	ErrEncryptionContext = errors.New("encryption context does not match")
	// ErrManifestMismatch: the manifest is malformed, fails its MAC, names another backup, or the
	// data disagrees with it (counts, checksums).
	ErrManifestMismatch = errors.New("backup does not match its manifest")
	// ErrTargetUnreachable: the target MongoDB cannot be reached.
	ErrTargetUnreachable = errors.New("target database is unreachable")
	// ErrTargetNotEmpty: the target database has collections and Replace was not set.
	ErrTargetNotEmpty = errors.New("target database is not empty")
	// ErrNotFound: no backup with that ID exists in the store.
	ErrNotFound = errors.New("backup not found")
	// ErrSwitchInterrupted: a previous restore stopped during its switch; Recover undoes it.
	ErrSwitchInterrupted = errors.New("a previous restore was interrupted during its switch")
	// ErrErasureRegister: the erasure register (internal/erasure) could not be read completely, so
	// the restore could not re-apply the erasures made since the backup; nothing was written.
	ErrErasureRegister = errors.New("erasure register cannot be read")
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
	hintTampered        = "the backup object was altered or damaged; do not use it: restore an older backup or the replicated copy in the standby region, and investigate the bucket's access logs"
	hintTruncated       = "the object was cut short (interrupted upload or copy); restore another backup or the replicated copy, then re-run the backup"
	hintWrongKey        = "restore with the multi-Region key (or its replica) named in the manifest and check the role may kms:Decrypt with it"
	hintContext         = "the manifest's backup ID or source region was changed or the object was copied under another name; use the original manifest"
	hintManifest        = "the manifest was altered or belongs to another backup; fetch the original (the bucket is versioned) or restore another backup"
	hintTarget          = "check the target URI, network path and credentials, then retry; nothing was written"
	hintNotEmpty        = "restore into an empty database, or pass --replace to replace its contents (the old collections are kept until the switch completes)"
	hintRecover         = "run the restore again: it rolls the interrupted switch back first, or call backup.Recover"
	hintErasureRegister = "nothing was written: a restore without the erasures would bring erased patients back; check the role may s3:ListBucket and s3:GetObject under erasures/ of the backup bucket (and kms:Decrypt with its key), then retry; only if the restore cannot wait, pass --skip-erasure-register and run `caro gdpr reapply` as soon as the register is readable"
	hintNotFoundID      = "run `caro backup list` to see the available backups"
)
