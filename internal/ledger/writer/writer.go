// Package writer is the logic of the auditwriter Lambda: it takes audit events from the audit SNS
// topic (SNS → Lambda subscription; SQS-wrapped deliveries are accepted too), validates them, appends
// them to the ledger and cuts the checkpoints that are due. Nothing is dropped: a message that cannot
// be parsed, fails validation or cannot be written makes the invocation fail, so Lambda retries it
// and then puts it in the function's dead-letter queue (whose alarm pages on-call). A redelivered
// event yields no second entry.
package writer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/carohealth/platform/internal/audit"
	"github.com/carohealth/platform/internal/ledger"
)

// Handler handles one Lambda invocation.
type Handler struct {
	Ledger       *ledger.Ledger
	Checkpointer *ledger.Checkpointer
	// Verifier, with its public key, runs for {"mode":"verify"} (the weekly review the security
	// page promises); nil refuses such invocations.
	Verifier func(ctx context.Context) (*ledger.Verifier, error)
	// Records, when set, receives a signed verification record after each verification that found
	// nothing wrong (the start of the next, incremental, one).
	Records *VerificationRecords
	// Sealer, when set, seals the yearly segments that are over after every checkpoint run.
	Sealer *ledger.Sealer
	// Retire, when set, runs for {"mode":"retire"}: it deletes the sealed segments whose retention
	// has ended (ledger.Retire); nil refuses such invocations.
	Retire func(ctx context.Context) (ledger.RetireReport, error)
	Log    *slog.Logger
}

// ModeVerify is the payload of the scheduled verification: {"mode":"verify"}.
const ModeVerify = "verify"

// ModeRetire is the payload of the scheduled retirement of expired segments: {"mode":"retire"}.
const ModeRetire = "retire"

// invocation covers the three shapes the function receives: SNS records, SQS records, and the
// EventBridge schedule that cuts time-based checkpoints when no events arrive.
type invocation struct {
	Records []struct {
		EventSource  string `json:"EventSource"` // SNS: "aws:sns"
		EventSource2 string `json:"eventSource"` // SQS: "aws:sqs"
		MessageID    string `json:"messageId"`   // SQS
		Body         string `json:"body"`        // SQS
		SNS          *struct {
			MessageID string `json:"MessageId"`
			Message   string `json:"Message"`
		} `json:"Sns"`
	} `json:"Records"`
	Source     string `json:"source"`      // EventBridge: "aws.events"
	DetailType string `json:"detail-type"` // "Scheduled Event"
	Mode       string `json:"mode"`        // EventBridge with a fixed input: ModeVerify
}

// SQSBatchResponse is the partial-batch response for SQS deliveries (ReportBatchItemFailures):
// only the failed messages return to the queue (and to its DLQ after maxReceiveCount).
type SQSBatchResponse struct {
	BatchItemFailures []SQSBatchItemFailure `json:"batchItemFailures"`
}

// SQSBatchItemFailure names one failed SQS message.
type SQSBatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Handle processes one invocation. For SNS it returns an error when any record failed (Lambda then
// retries the invocation and finally sends it to the DLQ); for SQS it returns the failed message IDs.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var inv invocation
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, fmt.Errorf("auditwriter: invocation is not JSON: %w", err)
	}
	switch {
	case inv.Mode == ModeVerify:
		return h.verify(ctx)
	case inv.Mode == ModeRetire:
		return h.retire(ctx)
	case inv.Source == "aws.events":
		_, err := h.checkpoint(ctx)
		return nil, err
	case len(inv.Records) == 0:
		return nil, errors.New("auditwriter: invocation has no Records and is not a scheduled event: refusing it so it is kept in the DLQ")
	}
	// Every record's event goes into one ledger batch (one ordered insert), in delivery order.
	var failed []error
	var sqsFailures []SQSBatchItemFailure
	isSQS := false
	type record struct{ id string }
	var recs []record
	var events []audit.Event
	fail := func(id string, err error) {
		if errors.Is(err, ledger.ErrLedgerHeld) {
			// Not a poison message: the restored database's ledger waits for its recovery.
			h.Log.Error("audit message not written: the ledger is held after a database restore; run `caro audit recover` against the restored "+
				"database (it removes the hold), then redrive the dead-letter queue if the retries ran out", "messageId", id, "error", err.Error())
		} else {
			h.Log.Error("audit message not written; it will be retried and then kept in the DLQ", "messageId", id, "error", err.Error())
		}
		failed = append(failed, fmt.Errorf("message %s: %w", id, err))
		if isSQS {
			sqsFailures = append(sqsFailures, SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	for _, r := range inv.Records {
		var msg, id string
		switch {
		case r.SNS != nil:
			msg, id = r.SNS.Message, r.SNS.MessageID
		case r.EventSource2 == "aws:sqs":
			isSQS = true
			msg, id = unwrapSNS(r.Body), r.MessageID
		default:
			failed = append(failed, errors.New("auditwriter: record is neither SNS nor SQS"))
			continue
		}
		ev, err := ParseEvent(msg)
		if err != nil {
			fail(id, err)
			continue
		}
		recs = append(recs, record{id})
		events = append(events, ev)
	}
	if len(events) > 0 {
		results, err := h.Ledger.AppendBatch(ctx, events)
		for i, rec := range recs {
			switch {
			case err != nil:
				fail(rec.id, err)
			case results[i].Err != nil:
				fail(rec.id, results[i].Err)
			default:
				h.Log.Info("audit event in ledger", "eventId", events[i].ID, "seq", results[i].Entry.Seq, "new", results[i].Created)
			}
		}
	}
	if _, err := h.checkpoint(ctx); err != nil {
		// The entries are written; failing makes Lambda retry (a no-op for them) and alarms.
		failed = append(failed, err)
		if isSQS && len(sqsFailures) == 0 {
			return nil, err
		}
	}
	if isSQS {
		return SQSBatchResponse{BatchItemFailures: sqsFailures}, nil
	}
	return nil, errors.Join(failed...)
}

// unwrapSNS returns the SNS Message when an SQS body is an SNS notification envelope (subscription
// without raw message delivery), else the body itself.
func unwrapSNS(body string) string {
	var env struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if json.Unmarshal([]byte(body), &env) == nil && env.Type == "Notification" {
		return env.Message
	}
	return body
}

// ParseEvent decodes an audit event strictly: unknown fields are an error (a field the ledger would
// not hash must not be dropped silently), and so is trailing data.
func ParseEvent(msg string) (audit.Event, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(msg)))
	dec.DisallowUnknownFields()
	var ev audit.Event
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("message is not an audit event: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ev, errors.New("message is not an audit event: data after the JSON object")
	}
	return ev, nil
}

func (h *Handler) checkpoint(ctx context.Context) ([]*ledger.Checkpoint, error) {
	if h.Checkpointer == nil {
		return nil, nil
	}
	made, err := h.Checkpointer.Run(ctx)
	for _, c := range made {
		h.Log.Info("checkpoint published", "number", c.Number, "treeSize", c.TreeSize, "root", c.RootHash.String())
	}
	if err != nil {
		return made, fmt.Errorf("auditwriter: checkpoint: %w", err)
	}
	if h.Sealer != nil {
		seals, err := h.Sealer.Run(ctx)
		for _, s := range seals {
			h.Log.Info("ledger segment sealed", "segment", s.Segment, "firstCheckpoint", s.FirstCheckpoint, "finalCheckpoint", s.Final.Number, "treeSize", s.Final.TreeSize)
		}
		if err != nil {
			return made, fmt.Errorf("auditwriter: sealing the ledger's segments: %w", err)
		}
	}
	return made, nil
}

// retire deletes the segments whose retention has ended. A failure is an error (retried, then the
// dead-letter queue alarms); what was deleted stays deleted and a rerun finishes the rest.
func (h *Handler) retire(ctx context.Context) (*ledger.RetireReport, error) {
	if h.Retire == nil {
		return nil, errors.New("auditwriter: retire invocation but retirement is not configured")
	}
	rep, err := h.Retire(ctx)
	if err != nil {
		h.Log.Error("retiring expired ledger segments failed", "error", err.Error(), "segments", rep.Segments)
		return &rep, fmt.Errorf("auditwriter: retiring expired ledger segments: %w", err)
	}
	h.Log.Info("expired ledger segments retired", "segments", rep.Segments, "objects", rep.Objects, "entries", rep.Entries, "records", rep.Records)
	return &rep, nil
}

// verify recomputes the whole chain and every checkpoint. A failed verification is an error, so the
// scheduled invocation is retried, lands in the dead-letter queue and alarms on-call; the report
// names the first bad entry and why.
func (h *Handler) verify(ctx context.Context) (*ledger.Report, error) {
	if h.Verifier == nil {
		return nil, errors.New("auditwriter: verify invocation but no verifier is configured")
	}
	v, err := h.Verifier(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditwriter: preparing verification: %w", err)
	}
	// Incremental: from the last verification record, checking the checkpoints and entries added
	// since. It stops at a checkpoint boundary a minute before the invocation's time limit and
	// records how far it got, so the next run continues there and a run always ends in time.
	opt := ledger.VerifyOptions{Incremental: true}
	if d, ok := ctx.Deadline(); ok {
		opt.Deadline = d.Add(-verifyMargin)
	}
	rep, err := v.Verify(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("auditwriter: the audit ledger could not be verified: %w", err)
	}
	if !rep.OK {
		p := rep.FirstBad
		h.Log.Error("audit ledger verification FAILED", "entriesVerified", rep.EntriesVerified,
			"checkpointsVerified", rep.CheckpointsVerified, "firstBad", p.String())
		return rep, fmt.Errorf("auditwriter: audit ledger verification failed: first bad %s", p)
	}
	from := "entry 0 (full pass)"
	if rep.IncrementalFrom != nil {
		from = fmt.Sprintf("checkpoint %d (verification record of %s)", rep.IncrementalFrom.Checkpoint, rep.IncrementalFrom.Time.Format(time.RFC3339))
	}
	h.Log.Info("audit ledger verified", "from", from, "entriesVerified", rep.EntriesVerified, "checkpointsVerified", rep.CheckpointsVerified,
		"unanchoredEntries", rep.UnanchoredEntries, "partial", rep.Partial)
	if h.Records != nil {
		rec, err := ledger.RecordVerification(ctx, rep, h.Records.Signer, h.Records.Publisher, h.Records.RetentionYears, time.Now())
		if err != nil {
			return rep, fmt.Errorf("auditwriter: the ledger verified but its verification record could not be written (the next run starts from the previous one): %w", err)
		}
		if rec != nil {
			h.Log.Info("verification record written", "checkpoint", rec.Checkpoint, "treeSize", rec.TreeSize, "consistencyProofHashes", len(rec.ConsistencyProof))
		}
	}
	return rep, nil
}

// verifyMargin is how long before the invocation's time limit the scheduled verification stops.
const verifyMargin = time.Minute

// VerificationRecords are where the scheduled verification records what it proved.
type VerificationRecords struct {
	Signer         ledger.Signer
	Publisher      ledger.VerificationPublisher
	RetentionYears int
}
