package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
		"(the failover itself goes on): set %s to the PEM file of the pinned ledger public key (caro audit public-key, from the on-call vault), "+
		"or, failing back to a region whose ledger the peer continued, to both regions' keys as KEYID=FILE,KEYID=FILE (KEYID the key ARN), "+
		"before applying, or run 'caro audit recover' against the %s database with the %s checkpoint buckets right after the restore",
		problem, envLedgerPublicKey, target, target)}
}

// ledgerPublicKeyProblem says what is wrong with the value of CARO_LEDGER_PUBLIC_KEY, or "" when
// it gives key(s) the restore step can use. It is the step's own parsing (ledgerPinnedKeys), so
// plan warns about exactly what the step would refuse. Paths are named, contents never echoed.
func ledgerPublicKeyProblem(value string) string {
	if _, _, err := ledgerPinnedKeys(value); err != nil {
		return err.Error()
	}
	return ""
}

// ledgerPinnedKeys reads the value of CARO_LEDGER_PUBLIC_KEY: one PEM (or DER) file, a single key
// checking checkpoints of any key ID, as on a first failover; or comma-separated KEYID=FILE
// items, a key ring (each checkpoint checked with the key its KeyID names), for a failback whose
// history two regions' keys signed. Each item is what 'caro audit --public-key' takes, parsed by
// the same code (pinnedKeys).
func ledgerPinnedKeys(value string) (single []byte, ring map[string][]byte, err error) {
	var items []string
	for _, it := range strings.Split(value, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return nil, nil, errors.New(envLedgerPublicKey + " is not set")
	}
	return pinnedKeys(envLedgerPublicKey, items)
}
