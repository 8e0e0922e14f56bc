package main

import (
	"fmt"

	"github.com/carohealth/platform/constructs/ledger"
)

// ledgerPublicKeysContext prefixes the context key that records a region's audit ledger signing
// key(s) once the region is deployed: ledgerPublicKeys:<region>=<key ARN>=<base64 DER>[,...], the
// item `caro audit public-key` prints in that region. Like backupKeyArn:<region>, it names the
// region the key belongs to and is read by that region's peer: its writer's weekly verify then
// reads its replica of the region's checkpoints with the key pinned (the region may be down).
const ledgerPublicKeysContext = "ledgerPublicKeys:"

// peerLedgerPublicKeys reads the ledgerPublicKeys:<peer> context (lookup) for the platform stack
// whose peer is peer: nil when unset (or there is no peer), an error naming the context key and
// what to pass when the value is not the peer's keys. account, when known (not nil), is the app's
// account, which the keys must be in.
func peerLedgerPublicKeys(peer string, account *string, lookup func(region string) string) ([]ledger.PublicKey, error) {
	if peer == "" {
		return nil, nil
	}
	v := lookup(peer)
	if v == "" {
		return nil, nil
	}
	acct := ""
	if account != nil {
		acct = *account
	}
	keys, err := ledger.ParsePublicKeys(v, peer, acct)
	if err != nil {
		return nil, fmt.Errorf("context %s%s: %w: pass the item `caro audit public-key` prints in %s (<signing key ARN>=<base64 DER>, several separated by commas)",
			ledgerPublicKeysContext, peer, err, peer)
	}
	return keys, nil
}
