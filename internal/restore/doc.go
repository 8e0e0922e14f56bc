// Package restore is the one post-restore protocol: every way data is brought back into a
// database (`caro backup restore` of a logical backup, `caro backup atlas-restore` of an Atlas
// snapshot, the restore step of both failover providers and so the drill) runs the same sequence,
// in this order:
//
//  1. Recover: an interrupted earlier restore is finished (its switch had committed) or rolled back
//     (it had not), and the report says which, before anything else (Recover; `caro backup
//     recover` runs only this).
//  2. The maintenance switch (internal/maintenance) is turned on before the load: the API answers
//     writes with 503 and Retry-After and keeps serving reads. The restore waits
//     maintenance.Settle before it relies on that, then lists what the target holds (collections
//     and counts) and compares it with what the caller expected (the failover plan's listing).
//  3. Hold the audit ledger (ledger.PlaceHold): the audit writer appends nothing to the rolled-back
//     ledger until it is recovered.
//  4. Re-apply the erasure register to the staged data, so no patient erased since the backup
//     comes back.
//  5. Switch: the target is listed again and compared (a write despite the switch refuses the
//     restore, naming it); its collections are renamed aside and kept (_caro_prev_<run>_<name>,
//     until `caro backup discard-replaced` removes them), the staged collections renamed into
//     place. An Atlas snapshot restore replaces the whole cluster instead (nothing can be kept
//     aside there, so the report lists what it replaced).
//  6. Recover the ledger (ledger.RecoverAfterRestore or the caller's recovery), then publish the
//     restore's audit events.
//  7. Write the restore marker (Marker: the one record of the last restore and of a restore in
//     progress, which /health reports), then turn the maintenance switch off.
//
// Every step is resumable: the run's state lives in the marker document (single-document atomic
// updates, no transactions), so after a kill -9 at any point the next restore (or Recover) rolls
// the run back or finishes it without losing or duplicating anything. Whatever the switch moves
// aside is kept; the audit event has one ID per run.
package restore
