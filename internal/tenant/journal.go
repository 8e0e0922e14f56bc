package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/carohealth/platform/internal/failover"
)

// JournalCollection holds the offboardings' journals (append-only records, one document each) and
// their leases. Its name has the prefix backups reserve: no backup copies it and no restore
// replaces it, so a journal outlives a restore that happens while an offboarding is interrupted.
const JournalCollection = "_caro_tenant_journal"

// Journal events. A step is done once it has a StepCompleted record; a StepStarted without one is
// a step interrupted mid-way (crash, kill -9): the next run does it again, and every step is
// idempotent, so nothing is redone that was finished and nothing is missed.
const (
	RunStarted    = "run-started"
	RunResumed    = "run-resumed"
	RunCompleted  = "run-completed"
	StepStarted   = "step-started"
	StepCompleted = "step-completed"
	LeaseTakeover = "lease-taken-over"
)

// Record is one journal entry. It holds IDs, counts and times: no personal data.
type Record struct {
	// ID is "rec:<tenant>:<seq>": the unique _id makes appends of two processes collide instead
	// of interleaving.
	ID     string    `bson:"_id" json:"-"`
	Tenant string    `bson:"tenant" json:"tenant"`
	Seq    int       `bson:"seq" json:"seq"`
	Run    string    `bson:"run" json:"run"`
	Time   time.Time `bson:"time" json:"time"`
	Event  string    `bson:"event" json:"event"`
	Step   string    `bson:"step,omitempty" json:"step,omitempty"`
	// Counts, on the count step's completion, is what the run removes; on other steps what the
	// step removed.
	Counts *Counts `bson:"counts,omitempty" json:"counts,omitempty"`
	// RequestID, EventID, Actor and Interface are the run's (on RunStarted).
	RequestID string `bson:"requestId,omitempty" json:"requestId,omitempty"`
	EventID   string `bson:"eventId,omitempty" json:"eventId,omitempty"`
	Actor     string `bson:"actor,omitempty" json:"actor,omitempty"`
	Interface string `bson:"interface,omitempty" json:"interface,omitempty"`
	Detail    string `bson:"detail,omitempty" json:"detail,omitempty"`
	Host      string `bson:"host,omitempty" json:"host,omitempty"`
	PID       int    `bson:"pid,omitempty" json:"pid,omitempty"`
}

// journal is one tenant's journal in db.
type journal struct {
	coll   *mongo.Collection
	tenant string
	next   int
}

func openJournal(db *mongo.Database, tenant string) *journal {
	return &journal{coll: db.Collection(JournalCollection), tenant: tenant}
}

// Records returns the tenant's records in order.
func (j *journal) Records(ctx context.Context) ([]Record, error) {
	cur, err := j.coll.Find(ctx, bson.D{{Key: "tenant", Value: j.tenant}, {Key: "seq", Value: bson.D{{Key: "$gte", Value: 0}}}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("reading the offboarding journal of tenant %s: %w", j.tenant, err)
	}
	var out []Record
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("reading the offboarding journal of tenant %s: %w", j.tenant, err)
	}
	if len(out) > 0 {
		j.next = out[len(out)-1].Seq + 1
	}
	return out, nil
}

// Append adds r as the next record. It fails, rather than interleave, when another process
// appended meanwhile (it holds a lease it took over).
func (j *journal) Append(ctx context.Context, r Record) error {
	host, _ := os.Hostname()
	r.Tenant, r.Seq, r.Host, r.PID = j.tenant, j.next, host, os.Getpid()
	r.ID = fmt.Sprintf("rec:%s:%08d", j.tenant, r.Seq)
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC().Truncate(time.Millisecond)
	// The journal must survive a crash right after Append returns.
	_, err := j.coll.InsertOne(ctx, r)
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("%w: another `caro tenant delete %s` wrote to the journal meanwhile (it took the run over): this one stops; see the other's output", ErrRunning, j.tenant)
	}
	if err != nil {
		return fmt.Errorf("writing the offboarding journal of tenant %s: %w", j.tenant, err)
	}
	j.next++
	return nil
}

// ErrRunning is returned while another process offboards the same tenant.
var ErrRunning = errors.New("the tenant is being offboarded by another process")

// LeaseStale is how long a lease held from another host may go without a heartbeat before a new
// run takes it over; on the same host a lease whose process is gone is taken over at once.
// LeaseHeartbeat is how often a running offboarding renews it.
const (
	LeaseStale     = 2 * time.Minute
	LeaseHeartbeat = 15 * time.Second
)

// lease is the document that says which process offboards a tenant now.
type lease struct {
	ID        string    `bson:"_id"`
	Tenant    string    `bson:"tenant"`
	Owner     string    `bson:"owner"`
	Host      string    `bson:"host"`
	PID       int       `bson:"pid"`
	ProcStart uint64    `bson:"procStart,omitempty"`
	Since     time.Time `bson:"since"`
	Heartbeat time.Time `bson:"heartbeat"`
}

func leaseID(tenant string) string { return "lease:" + tenant }

// acquire takes the tenant's lease for this process, taking over one whose holder is gone. It
// returns a release function, and whether a lease was taken over.
func (j *journal) acquire(ctx context.Context, owner string) (release func(), takenOver *lease, err error) {
	me := failover.CurrentLockInfo("", time.Now())
	now := time.Now().UTC().Truncate(time.Millisecond)
	mine := lease{ID: leaseID(j.tenant), Tenant: j.tenant, Owner: owner, Host: me.Host, PID: os.Getpid(), ProcStart: me.ProcStart, Since: now, Heartbeat: now}
	_, err = j.coll.InsertOne(ctx, mine)
	if mongo.IsDuplicateKeyError(err) {
		var cur lease
		if err := j.coll.FindOne(ctx, bson.D{{Key: "_id", Value: mine.ID}}).Decode(&cur); err != nil {
			return nil, nil, fmt.Errorf("reading the offboarding lease of tenant %s: %w", j.tenant, err)
		}
		if !leaseDead(cur, time.Now()) {
			return nil, nil, fmt.Errorf("%w: %s (pid %d on %s, since %s, last heartbeat %s ago): wait for it to finish; "+
				"a run on another host that stopped is taken over %s after its last heartbeat, on this host as soon as its process is gone",
				ErrRunning, cur.Owner, cur.PID, cur.Host, cur.Since.Format(time.RFC3339), time.Since(cur.Heartbeat).Round(time.Second), LeaseStale)
		}
		// Take over exactly the lease read (its holder and heartbeat), so two takers cannot both win.
		res, err := j.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cur.ID}, {Key: "pid", Value: cur.PID}, {Key: "host", Value: cur.Host},
			{Key: "heartbeat", Value: cur.Heartbeat}}, mine)
		if err != nil {
			return nil, nil, fmt.Errorf("taking over the offboarding lease of tenant %s: %w", j.tenant, err)
		}
		if res.MatchedCount != 1 {
			return nil, nil, fmt.Errorf("%w: another process took the lease over just now; run the command again to see who", ErrRunning)
		}
		takenOver = &cur
	} else if err != nil {
		return nil, nil, fmt.Errorf("taking the offboarding lease of tenant %s in %s: %w", j.tenant, JournalCollection, err)
	}
	stop := j.heartbeat(ctx, mine)
	return func() {
		stop()
		_, _ = j.coll.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: mine.ID}, {Key: "pid", Value: mine.PID}, {Key: "host", Value: mine.Host}})
	}, takenOver, nil
}

// leaseDead reports whether l's process is gone: provably on this host, or silent for LeaseStale.
func leaseDead(l lease, now time.Time) bool {
	host, _ := os.Hostname()
	if l.Host == host {
		return l.PID <= 0 || failover.HolderDead(failover.LockInfo{Host: l.Host, PID: l.PID, ProcStart: l.ProcStart})
	}
	return now.Sub(l.Heartbeat) > LeaseStale
}

// heartbeat renews the lease every LeaseHeartbeat until the returned stop is called.
func (j *journal) heartbeat(ctx context.Context, l lease) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(LeaseHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = j.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: l.ID}, {Key: "pid", Value: l.PID}, {Key: "host", Value: l.Host}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "heartbeat", Value: time.Now().UTC().Truncate(time.Millisecond)}}}})
			}
		}
	}()
	return func() { cancel(); <-done }
}
