package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockInfo says who holds the failover lock.
type LockInfo struct {
	Owner   string    `json:"owner"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	PlanID  string    `json:"plan_id"`
	// ProcStart is the holder's process start time (clock ticks since boot, from /proc), so a
	// recycled PID is not mistaken for a live holder.
	ProcStart uint64 `json:"proc_start,omitempty"`
}

// UnlockHint is how an operator breaks a stale lock.
const UnlockHint = "caro failover unlock --yes"

// LockedError is returned when someone else holds the lock.
type LockedError struct {
	Holder LockInfo
	// Where names the lock (file path, S3 object).
	Where string
}

// Error names the holder, when it started and how to break a stale lock.
func (e *LockedError) Error() string {
	h := e.Holder
	started := "at an unrecorded time"
	if !h.Started.IsZero() {
		started = fmt.Sprintf("%s (%s ago)", h.Started.UTC().Format(time.RFC3339), time.Since(h.Started).Round(time.Second))
	}
	plan := h.PlanID
	if plan == "" {
		plan = "(not recorded yet)"
	}
	return fmt.Sprintf("another failover apply holds the lock: owner %s on host %s (pid %d), started %s, plan %s; "+
		"wait for it (see `caro failover status`), or if that run is dead (crashed laptop, killed terminal) break the stale lock with `%s` (lock: %s)",
		h.Owner, h.Host, h.PID, started, plan, UnlockHint, e.Where)
}

// Lock guards against two concurrent applies. On AWS it is an S3 object created with a conditional
// write in the target region; locally it is a file created with O_EXCL.
type Lock interface {
	// Acquire takes the lock for me or returns *LockedError with the holder.
	Acquire(ctx context.Context, me LockInfo) error
	// Release gives up the lock if I hold it.
	Release(ctx context.Context, me LockInfo) error
	// Holder returns the current holder, or nil if free.
	Holder(ctx context.Context) (*LockInfo, error)
	// Break removes the lock whoever holds it (operator's --force).
	Break(ctx context.Context) (*LockInfo, error)
}

// CurrentLockInfo describes this process as a lock owner, named by its OS login (Engine.Operator
// names someone else).
func CurrentLockInfo(planID string, now time.Time) LockInfo {
	host, _ := os.Hostname()
	owner := "uid-" + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		owner = u.Username
	}
	return LockInfo{Owner: owner, Host: host, PID: os.Getpid(), Started: now.UTC(), PlanID: planID, ProcStart: procStart(os.Getpid())}
}

// procStart returns the start time of pid in clock ticks since boot (field 22 of /proc/pid/stat), or 0.
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return parseProcStart(string(b))
}

// parseProcStart reads the start time from the text of /proc/<pid>/stat, or 0.
func parseProcStart(s string) uint64 {
	// The command name (field 2) is in parentheses, may be empty and may contain spaces and
	// parentheses: it starts at the first '(' and the fields follow the last ')'.
	_, comm, _ := strings.Cut(s, "(")
	i := strings.LastIndexByte(comm, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(comm[i+1:])
	// f[0] is field 3 (state); starttime is field 22 -> f[19].
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// HolderDead reports whether the holder is provably gone: same host, and its process no longer
// exists (or the PID now belongs to a process that started at another time). A holder on another
// host is never presumed dead: only an operator can decide that (UnlockHint).
func HolderDead(h LockInfo) bool {
	host, _ := os.Hostname()
	// A PID below 1 names a process group for kill(2), not a process: never presumed dead.
	if h.Host != host || h.PID < 1 {
		return false
	}
	if err := syscall.Kill(h.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	if h.ProcStart != 0 {
		if now := procStart(h.PID); now != 0 && now != h.ProcStart {
			return true
		}
	}
	return false
}

// lockPoll is how often a waiting FileLock tries again.
const lockPoll = 10 * time.Millisecond

// FileLock is an flock(2)-held lock file. The kernel releases the lock when the holding process dies
// (crash, kill -9), so a local lock is never stale. Who holds it is written, after the flock is
// taken, to a separate owner file replaced atomically (rename), so a reader never sees it half
// written; the holder removes it before it unlocks.
type FileLock struct {
	Path string
	// Wait is how long Acquire keeps trying while the lock is taken: a status or unlock holds it
	// for a moment to probe it, and must never make an apply refuse (default 2 s).
	Wait time.Duration
	f    *os.File
}

// NewFileLock returns the lock file of stateDir.
func NewFileLock(stateDir string) (*FileLock, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: create state directory %s: %w", stateDir, err)
	}
	return &FileLock{Path: filepath.Join(stateDir, "failover.lock")}, nil
}

func (l *FileLock) ownerPath() string { return l.Path + ".owner" }

func (l *FileLock) wait() time.Duration {
	if l.Wait > 0 {
		return l.Wait
	}
	return 2 * time.Second
}

// Acquire implements Lock.
func (l *FileLock) Acquire(ctx context.Context, me LockInfo) error {
	if l.f != nil {
		return fmt.Errorf("lock: %s is already held by this process", l.Path)
	}
	f, err := os.OpenFile(l.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock: open %s: %w", l.Path, err)
	}
	deadline := time.Now().Add(l.wait())
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("lock: flock %s: %w", l.Path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			h := l.namedHolder(ctx)
			return &LockedError{Holder: h, Where: l.Path}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(lockPoll):
		}
	}
	b, _ := json.Marshal(me)
	if err := writeFileAtomic(l.ownerPath(), b); err != nil {
		f.Close()
		return fmt.Errorf("lock: %w", err)
	}
	l.f = f
	return nil
}

// Release implements Lock.
func (l *FileLock) Release(_ context.Context, _ LockInfo) error {
	if l.f == nil {
		return nil
	}
	_ = os.Remove(l.ownerPath())
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// Holder implements Lock: the holder, if the file is actually locked, named from its owner file
// or, until the holder has written it, from the kernel's lock table.
func (l *FileLock) Holder(ctx context.Context) (*LockInfo, error) {
	f, err := os.Open(l.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: read %s: %w", l.Path, err)
	}
	defer f.Close()
	if l.f == nil {
		// Probe with a shared lock, released at once: if we get it, nobody holds the exclusive lock.
		// An apply that tries meanwhile waits for it (Acquire's Wait).
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			return nil, nil
		}
	}
	h := l.namedHolder(ctx)
	return &h, nil
}

// namedHolder names the holder of the (held) lock: the owner file once it holds a complete record
// of a live process (a holder that just took the flock writes it a moment later; a file left by a
// killed holder names a dead process), else the holder the kernel's lock table names, else what is
// known. It never returns an empty owner, a zero PID or a zero start time when the system can tell.
func (l *FileLock) namedHolder(ctx context.Context) LockInfo {
	deadline := time.Now().Add(l.wait())
	for {
		if h, ok := l.readOwner(); ok {
			return h
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(lockPoll)
	}
	if h, ok := kernelHolder(l.Path); ok {
		return h
	}
	host, _ := os.Hostname()
	return LockInfo{Owner: "a process that has not recorded itself (its lock file is " + l.Path + ")", Host: host, Started: time.Now().UTC()}
}

// readOwner reads the owner file; ok when it is complete and names a process that is not
// provably dead.
func (l *FileLock) readOwner() (LockInfo, bool) {
	b, err := os.ReadFile(l.ownerPath())
	if err != nil {
		return LockInfo{}, false
	}
	var h LockInfo
	if json.Unmarshal(b, &h) != nil || h.Owner == "" || h.PID <= 0 || h.Started.IsZero() {
		return LockInfo{}, false
	}
	if HolderDead(h) {
		return LockInfo{}, false
	}
	return h, true
}

// Break implements Lock. A file lock cannot be stale (the kernel drops it with its holder), so a
// held one belongs to a running process: Break refuses and names it, rather than letting two
// applies run.
func (l *FileLock) Break(ctx context.Context) (*LockInfo, error) {
	h, err := l.Holder(ctx)
	if err != nil || h == nil {
		return nil, err
	}
	return h, fmt.Errorf("lock: %s is held by a running process (owner %s, host %s, pid %d, started %s): "+
		"a local lock is released when its process exits, so stop that apply (kill %d) instead of breaking the lock",
		l.Path, h.Owner, h.Host, h.PID, h.Started.UTC().Format(time.RFC3339), h.PID)
}
