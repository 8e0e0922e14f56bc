package tenancy

import "sync"

// FerretDB v1 (the local server) runs an update as a read, a change in Go and a write by _id in a
// separate transaction, so two concurrent updates of one document lose one of them (measured: 20
// concurrent $inc leave 1; 8 concurrent version-conditional updates all "match"). MongoDB (Atlas)
// applies each single-document update atomically. To make the local server behave like production,
// every read-modify-write of a collection in this process (update, conditional delete, the audit
// outbox's mark-sent) holds the collection's write lock. In a Lambda instance, which serves one
// request at a time, the lock is never contended; locally it serialises what FerretDB would race.
var writeLocks sync.Map // collection name -> *sync.Mutex

// WriteLock locks the named collection's writers in this process and returns the unlock function.
func WriteLock(collection string) (unlock func()) {
	m, _ := writeLocks.LoadOrStore(collection, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
