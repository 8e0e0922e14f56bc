package restore

import (
	"errors"
	"fmt"

	"github.com/carohealth/platform/internal/backup"
)

// Sentinel errors of the protocol (the backup's own, such as backup.ErrTampered, pass through):
// every failure says what happened, why and what to do, and wraps one of them or a backup one.
var (
	// ErrTargetNotEmpty: the target has collections and Replace was not set.
	ErrTargetNotEmpty = errors.New("target database is not empty")
	// ErrTargetChanged: the target holds something else than the caller expected (the failover
	// plan's listing) and the operator did not accept it.
	ErrTargetChanged = errors.New("the target database changed since the restore was planned")
	// ErrWritesDuringRestore: the target was written to although the maintenance switch was on.
	ErrWritesDuringRestore = errors.New("the target database was written to during the restore")
	// ErrRestoreRunning: another restore is running in the target database.
	ErrRestoreRunning = errors.New("another restore is running in the target database")
	// ErrSwitchFailed: a switch failed and could not be rolled back; Recover (or the next restore)
	// rolls it back.
	ErrSwitchFailed = errors.New("the switch of the restored collections failed and could not be rolled back")
	// ErrErasureRegister: the erasure register could not be read completely, so the restore could
	// not re-apply the erasures made since the backup.
	ErrErasureRegister = errors.New("erasure register cannot be read")
	// ErrMaintenance: the maintenance switch could not be turned on (another operation holds it,
	// or the database refused the write).
	ErrMaintenance = errors.New("the maintenance switch could not be turned on")
)

// Error is the error type of the protocol, the backup package's: Kind is a sentinel, Detail says
// what happened, Hint what to do, Err is the cause.
type Error = backup.Error

func newErr(kind, err error, hint, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...), Hint: hint, Err: err}
}

const (
	hintTarget          = "check the target URI, network path and credentials, then retry"
	hintNotEmpty        = "restore into an empty database, or pass --replace (with --yes) to replace its contents: its collections are moved aside and kept (" + prevPrefix + "<run>_<name>) until `caro backup discard-replaced` removes them"
	hintRecover         = "run `caro backup recover --mongodb-uri <uri> --yes` (or the restore again): it rolls the interrupted switch back first"
	hintErasureRegister = "nothing was written: a restore without the erasures would bring erased patients back; check the role may s3:ListBucket and s3:GetObject under erasures/ of the backup buckets (and kms:Decrypt with their key), then retry; only if the restore cannot wait, pass --skip-erasure-register and run `caro gdpr reapply` as soon as the register is readable"
)
