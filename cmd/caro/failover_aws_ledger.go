package main

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/carohealth/platform/internal/ledger"
)

// InputWarnings implements awsprov.RestoreAdvisories: the snapshot restore step recovers the
// audit ledger only with the pinned ledger public key.
func (a *atlasSnapshots) InputWarnings(target string) []string { return ledgerRecoveryWarnings(target) }

// InputWarnings implements awsprov.RestoreAdvisories: the backup restore step recovers the audit
// ledger only with the pinned ledger public key.
func (backupRestorer) InputWarnings(target string) []string { return ledgerRecoveryWarnings(target) }

// ledgerRecoveryWarnings is what plan and the apply preflight say when the restore step's ledger
// recovery (recoverLedgerAfterRestore) will not run for want of its key. A warning, never a
// refusal: the audit ledger can be recovered by hand afterwards, traffic must move now.
func ledgerRecoveryWarnings(target string) []string {
	problem := ledgerPublicKeyProblem(os.Getenv(envLedgerPublicKey))
	if problem == "" {
		return nil
	}
	return []string{fmt.Sprintf("audit ledger: %s, so the restore step will NOT recover the audit ledger the restore rolls back "+
		"(the failover itself goes on): set %s to the PEM file of the pinned ledger public key (caro audit public-key, from the on-call vault) "+
		"before applying, or run 'caro audit recover' against the %s database with the %s checkpoint replica right after the restore",
		problem, envLedgerPublicKey, target, target)}
}

// ledgerPublicKeyProblem says what is wrong with the pinned key file path, or "" when it holds a
// public key the restore step can use. It accepts what the step accepts: a PEM block (or DER) with
// a SubjectPublicKeyInfo. The path is named, the file's content never echoed.
func ledgerPublicKeyProblem(path string) string {
	if path == "" {
		return envLedgerPublicKey + " is not set"
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named already
		}
		return fmt.Sprintf("%s=%s cannot be read (%v)", envLedgerPublicKey, path, err)
	}
	der := raw
	if b, _ := pem.Decode(raw); b != nil {
		der = b.Bytes
	}
	if _, err := ledger.ParsePublicKey(der); err != nil {
		return fmt.Sprintf("%s=%s is not a PEM public key (want the PUBLIC KEY block 'caro audit public-key' prints)", envLedgerPublicKey, path)
	}
	return ""
}
