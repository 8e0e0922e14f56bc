package failover

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carohealth/platform/internal/strictjson"
)

// Event is what a journal record says happened.
type Event string

// Journal events. A step is done once it has a StepCompleted record; a StepStarted without a
// matching completion or failure is a step interrupted mid-way (crash, kill -9).
const (
	ApplyStarted   Event = "apply-started"
	ApplyResumed   Event = "apply-resumed"
	ApplyCompleted Event = "apply-completed"
	ApplyFailed    Event = "apply-failed"
	StepStarted    Event = "step-started"
	StepCompleted  Event = "step-completed"
	StepFailed     Event = "step-failed"
	// StepAlreadyDone records that Check found the step's effect already in place, so Run was not
	// called; it counts as completion.
	StepAlreadyDone Event = "step-already-done"
	LockTakenOver   Event = "lock-taken-over"
	// StepDecayed records that a step done earlier was found, on resume, with its effect gone
	// (Decayer): it runs again.
	StepDecayed Event = "step-decayed"
	// StepRedoRequested records the operator's `apply --redo <step>`: the step runs again.
	StepRedoRequested Event = "step-redo-requested"
)

// Record is one append-only journal entry.
type Record struct {
	Time     time.Time `json:"time"`
	PlanID   string    `json:"plan_id"`
	PlanHash string    `json:"plan_hash"`
	Event    Event     `json:"event"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Seconds  float64   `json:"seconds,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Error    string    `json:"error,omitempty"`
	Owner    string    `json:"owner,omitempty"`
	Host     string    `json:"host,omitempty"`
	PID      int       `json:"pid,omitempty"`
}

// Journal is the append-only record of one plan's apply. On AWS it lives in S3 in the target region
// (reachable when the source region is gone); locally it is a file.
type Journal interface {
	// Append durably adds r; when it returns nil the record survives a crash.
	Append(ctx context.Context, r Record) error
	// Records returns all records in order.
	Records(ctx context.Context) ([]Record, error)
}

// FileJournal is a JSON-lines journal file, fsynced on every append.
type FileJournal struct {
	Path string
	mu   sync.Mutex
}

// JournalPath is where a plan's journal lives in a state directory.
func JournalPath(stateDir, planID string) string {
	return filepath.Join(stateDir, "journal-"+planID+".jsonl")
}

// NewFileJournal returns the journal of planID in stateDir, creating the directory.
func NewFileJournal(stateDir, planID string) (*FileJournal, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: create state directory %s: %w", stateDir, err)
	}
	return &FileJournal{Path: JournalPath(stateDir, planID)}, nil
}

// Append implements Journal. A process killed mid-write can leave a torn last line; Append first
// cuts it off so the journal stays one record per line (the torn record was never acknowledged).
func (j *FileJournal) Append(_ context.Context, r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(j.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("journal: open %s: %w", j.Path, err)
	}
	defer f.Close()
	if err := trimTornTail(f); err != nil {
		return fmt.Errorf("journal: repair %s: %w", j.Path, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal: write %s: %w", j.Path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", j.Path, err)
	}
	return nil
}

// trimTornTail truncates f after its last newline (journals are small: their records are read whole
// on every Records anyway).
func trimTornTail(f *os.File) error {
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	return f.Truncate(int64(bytes.LastIndexByte(b, '\n') + 1))
}

// Records implements Journal. A torn last line (no newline) is ignored.
func (j *FileJournal) Records(_ context.Context) ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := os.ReadFile(j.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read %s: %w", j.Path, err)
	}
	return ParseRecords(b, j.Path)
}

// maxRecordBytes bounds one journal line (a record with a long error message stays far below).
const maxRecordBytes = 4 << 20

// ParseRecords decodes JSON-lines journal content; a final line without newline is a torn write and
// is ignored. name is used in errors. A line that does not decode is skipped: the records of every
// other line are returned together with a *DamagedError naming the damaged lines and how to
// recover.
func ParseRecords(b []byte, name string) ([]Record, error) {
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []Record
	var damaged *DamagedError
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxRecordBytes)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		r, err := DecodeRecord(sc.Bytes())
		if err != nil {
			if damaged == nil {
				damaged = &DamagedError{Path: name, Cause: err}
			}
			damaged.Lines = append(damaged.Lines, line)
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("journal %s: %w", name, err)
	}
	if damaged != nil {
		return out, damaged
	}
	return out, nil
}

// DecodeRecord decodes one journal record (a file's line, an S3 journal's object) in the form Append
// writes it only: names exact, each once, none unknown (strictjson). The journal decides which steps
// are done, so a record in another spelling is damage, not a second opinion.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	err := strictjson.Decode(b, &r)
	return r, err
}

// DamagedError is a journal with records that cannot be read: a file's lines (Path, Lines) or an
// S3 journal's objects (Objects). The records that could be read come with it, so status reports
// what is known; apply refuses until the damage is set aside. Error says exactly how.
type DamagedError struct {
	Path    string
	Lines   []int
	Bucket  string
	Objects []string
	Cause   error
}

// Error names the damage and the commands that set it aside.
func (e *DamagedError) Error() string {
	if len(e.Objects) > 0 {
		var mv []string
		for _, o := range e.Objects {
			mv = append(mv, fmt.Sprintf("aws s3 mv s3://%s/%s s3://%s/failover/damaged/%s", e.Bucket, o, e.Bucket, o))
		}
		return fmt.Sprintf("the failover journal has %d damaged record(s) (%s: %v): keep them for the post-mortem and set them aside with `%s`, "+
			"then run `caro failover apply <plan.json>` again: it resumes and checks again every step those records may have recorded (steps are safe to repeat)",
			len(e.Objects), strings.Join(e.Objects, ", "), e.Cause, strings.Join(mv, " && "))
	}
	lines := make([]string, len(e.Lines))
	dels := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		lines[i] = strconv.Itoa(l)
		dels[i] = strconv.Itoa(l) + "d"
	}
	return fmt.Sprintf("the failover journal %s has %d damaged line(s) (line %s: %v): keep a copy for the post-mortem and remove them with "+
		"`cp %s %s.damaged && sed -i '%s' %s`, then run `caro failover apply <plan.json>` again: it resumes and checks again every step those lines may have recorded (steps are safe to repeat)",
		e.Path, len(e.Lines), strings.Join(lines, ", "), e.Cause, e.Path, e.Path, strings.Join(dels, ";"), e.Path)
}

// LatestJournal returns the most recently written journal in stateDir, or "" if there is none.
func LatestJournal(stateDir string) (string, error) {
	ents, err := os.ReadDir(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	type cand struct {
		path string
		mod  time.Time
	}
	var cs []cand
	for _, e := range ents {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "journal-") || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		cs = append(cs, cand{filepath.Join(stateDir, e.Name()), info.ModTime()})
	}
	if len(cs) == 0 {
		return "", nil
	}
	sort.Slice(cs, func(a, b int) bool {
		if cs[a].mod.Equal(cs[b].mod) {
			return cs[a].path > cs[b].path
		}
		return cs[a].mod.After(cs[b].mod)
	})
	return cs[0].path, nil
}

// StepState is what the journal says about one step.
type StepState struct {
	Name      string
	Done      bool
	Started   bool // a start without completion or failure: interrupted mid-step
	Failed    bool
	Attempts  int
	Seconds   float64
	Detail    string
	Error     string
	StartedAt time.Time
	DoneAt    time.Time
	// AlreadyDone is true when Check found it done without running it.
	AlreadyDone bool
	// Redone says why the step ran again after it was done (decayed, or the operator's --redo).
	Redone []string
}

// State is a replay of a journal.
type State struct {
	PlanID    string
	PlanHash  string
	Started   time.Time
	Finished  time.Time
	Completed bool
	Failed    bool
	LastError string
	Applies   int
	// What is "<kind> <from> -> <to>", from the apply records.
	What  string
	Steps map[string]*StepState
	Order []string
}

// Replay folds journal records into a State.
func Replay(records []Record) *State {
	s := &State{Steps: map[string]*StepState{}}
	step := func(name string) *StepState {
		st, ok := s.Steps[name]
		if !ok {
			st = &StepState{Name: name}
			s.Steps[name] = st
			s.Order = append(s.Order, name)
		}
		return st
	}
	for _, r := range records {
		if s.PlanID == "" {
			s.PlanID, s.PlanHash = r.PlanID, r.PlanHash
		}
		switch r.Event {
		case ApplyStarted, ApplyResumed:
			if r.Detail != "" {
				s.What = r.Detail
			}
			if s.Started.IsZero() {
				s.Started = r.Time
			}
			s.Applies++
			s.Failed = false
			if r.Event == ApplyResumed {
				s.Completed = false // resumed after completing: a --redo
			}
		case ApplyCompleted:
			s.Completed, s.Finished = true, r.Time
		case ApplyFailed:
			s.Failed, s.LastError = true, r.Error
		case StepStarted:
			st := step(r.Step)
			st.Started, st.Failed = true, false
			st.Attempts = max(st.Attempts, r.Attempt)
			if st.StartedAt.IsZero() {
				st.StartedAt = r.Time
			}
		case StepCompleted, StepAlreadyDone:
			st := step(r.Step)
			st.Done, st.Started, st.Failed = true, false, false
			st.Attempts = max(st.Attempts, r.Attempt)
			st.Seconds += r.Seconds
			st.Detail, st.DoneAt = r.Detail, r.Time
			st.AlreadyDone = r.Event == StepAlreadyDone
			if st.StartedAt.IsZero() {
				st.StartedAt = r.Time.Add(-time.Duration(r.Seconds * float64(time.Second)))
			}
		case StepFailed:
			st := step(r.Step)
			st.Failed, st.Started = true, false
			st.Seconds += r.Seconds
			st.Error = r.Error
		case StepDecayed, StepRedoRequested:
			st := step(r.Step)
			st.Done, st.AlreadyDone = false, false
			st.Redone = append(st.Redone, r.Detail)
		}
	}
	return s
}
