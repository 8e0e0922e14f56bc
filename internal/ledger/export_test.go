package ledger

import "testing"

// Test helpers shared with the external FerretDB tests (package ledger_test), which cannot live in
// package ledger because they use ledgertest, which imports ledger.

// TamperTarget is tamperTarget for external tests.
type TamperTarget = tamperTarget

// RunEntryTamperCases runs the entry tamper table against setup's store.
var RunEntryTamperCases = runEntryTamperCases

// ConcurrentAppends is concurrentAppends.
var ConcurrentAppends = concurrentAppends

// TestEvent is testEvent.
var TestEvent = testEvent

// Rehash is rehash.
var Rehash = rehash

// ConcurrentBatches is concurrentBatches.
func ConcurrentBatches(t *testing.T, store *MongoStore, others func() *MongoStore) {
	concurrentBatches(t, store, others)
}
