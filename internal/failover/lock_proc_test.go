package failover

import (
	"context"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"
)

// statLine is a /proc/<pid>/stat text with command name comm and start time 1347862 (field 22).
func statLine(comm string) string {
	return "23239 (" + comm + ") R 23235 23235 17180 0 -1 4194304 121 0 0 0 0 0 0 0 20 0 1 0 1347862 3133440 412\n"
}

// TestParseProcStartReadsField22AfterTheCommandName: the start time that tells a recycled PID from
// the lock's holder is field 22, counted after the command name, which may be empty or hold spaces
// and parentheses; a text without it gives 0 (unknown), never another field.
func TestParseProcStartReadsField22AfterTheCommandName(t *testing.T) {
	for _, comm := range []string{"caro", "", "a b", "x) (y", ")"} {
		if got := parseProcStart(statLine(comm)); got != 1347862 {
			t.Errorf("command name %q: start %d, want 1347862", comm, got)
		}
	}
	full := statLine("caro")
	cut := full[:strings.LastIndex(full, " 1347862")]
	for name, text := range map[string]string{
		"no command name":         "23239 R 23235 23235 17180 0 -1 4194304 121 0 0 0 0 0 0 0 20 0 1 0 1347862 3133440",
		"unterminated name":       "23239 (caro R 23235 23235 17180 0 -1 4194304 121 0 0 0 0 0 0 0 20 0 1 0 1347862",
		"ends before field 22":    cut,
		"field 22 is not a count": strings.Replace(full, "1347862", "soon", 1),
		"empty":                   "",
	} {
		if got := parseProcStart(text); got != 0 {
			t.Errorf("%s: start %d, want 0", name, got)
		}
	}
	// AND field 22 as the last field is read
	if got := parseProcStart(cut + " 1347862"); got != 1347862 {
		t.Errorf("field 22 last: start %d", got)
	}
}

// TestProcStartOfThisProcessIsKnown: on Linux the lock records a start time for its holder, so a
// recycled PID can be told apart.
func TestProcStartOfThisProcessIsKnown(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if procStart(os.Getpid()) == 0 {
		t.Fatal("no start time for this process")
	}
}

// TestFlockHolderNamesTheWriterOfThatInode: the lock's holder is the PID of the exclusive FLOCK
// entry on the lock file's inode in /proc/locks; shared locks, POSIX locks, other inodes, waiters
// ("->" lines) and garbled lines name no one.
func TestFlockHolderNamesTheWriterOfThatInode(t *testing.T) {
	const ino = 1234567
	locks := strings.Join([]string{
		"1: POSIX  ADVISORY  WRITE 111 08:01:1234567 0 EOF",
		"2: FLOCK  ADVISORY  READ  222 08:01:1234567 0 EOF",
		"3: FLOCK  ADVISORY  WRITE 333 08:01:1234568 0 EOF",
		"4: FLOCK  ADVISORY  WRITE 444 08:01:123456 0 EOF",
		"4: -> FLOCK  ADVISORY  WRITE 555 08:01:1234567 0 EOF",
		"5: FLOCK  ADVISORY  WRITE 0 08:01:1234567 0 EOF",
		"6: FLOCK  ADVISORY  WRITE abc 08:01:1234567 0 EOF",
		"7: FLOCK  ADVISORY  WRITE 666 1234567 0 EOF",
		"8: FLOCK  ADVISORY  WRITE 777 08:01:x 0 EOF",
		"9: FLOCK ADVISORY WRITE",
		"",
	}, "\n")
	if pid := flockHolder(strings.NewReader(locks), ino); pid != 0 {
		t.Fatalf("holder %d named from entries that are not an exclusive flock of inode %d", pid, ino)
	}
	holder := locks + "10: FLOCK  ADVISORY  WRITE 4242 fe:00:1234567 0 EOF\n"
	if pid := flockHolder(strings.NewReader(holder), ino); pid != 4242 {
		t.Fatalf("holder %d, want 4242", pid)
	}
	// AND a shortest well-formed entry (the six fields up to the inode) is read
	if pid := flockHolder(strings.NewReader("1: FLOCK ADVISORY WRITE 99 08:01:1234567"), ino); pid != 99 {
		t.Fatalf("holder %d, want 99", pid)
	}
}

// TestHolderDeadChecksEveryProcessIDAndNoGroup: PID 1 is a process like any other (a recorded start
// time that differs from its own means the holder is gone), while 0 and negative numbers, which
// kill(2) reads as process groups, never make a holder dead.
func TestHolderDeadChecksEveryProcessIDAndNoGroup(t *testing.T) {
	host, _ := os.Hostname()
	for _, pid := range []int{0, -1, -999999} {
		if HolderDead(LockInfo{Host: host, PID: pid, ProcStart: 1}) {
			t.Errorf("pid %d presumed dead", pid)
		}
	}
	start := procStart(1)
	if start == 0 {
		t.Skip("no /proc start time for pid 1 here")
	}
	if HolderDead(LockInfo{Host: host, PID: 1, ProcStart: start}) {
		t.Error("pid 1 with its own start time presumed dead")
	}
	if !HolderDead(LockInfo{Host: host, PID: 1, ProcStart: start + 1}) {
		t.Error("pid 1 with another start time (a holder long gone) kept the lock alive")
	}
}

// TestAReleasedLockHasNoHolder: the lock file stays after a release; status then reports no holder
// (rather than an unnamed process), and so does the lock object that released it.
func TestAReleasedLockHasNoHolder(t *testing.T) {
	ctx := context.Background()
	lk, err := NewFileLock(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	me := CurrentLockInfo("p", time.Now())
	if err := lk.Acquire(ctx, me); err != nil {
		t.Fatal(err)
	}
	if err := lk.Release(ctx, me); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*FileLock{{Path: lk.Path}, lk} {
		if h, err := l.Holder(ctx); err != nil || h != nil {
			t.Fatalf("released lock: holder %+v, %v", h, err)
		}
	}
}

// TestHolderWaitsForTheOwnerRecord: a holder that has just taken the lock writes its record a
// moment later; status waits for it (up to Wait) and names the holder as recorded (operator name,
// plan), not only as the kernel knows the process; a cancelled status stops waiting at once.
func TestHolderWaitsForTheOwnerRecord(t *testing.T) {
	ctx := context.Background()
	holder, err := NewFileLock(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	me := CurrentLockInfo("plan-9", time.Now())
	me.Owner = "alice-on-call"
	if err := holder.Acquire(ctx, me); err != nil {
		t.Fatal(err)
	}
	defer holder.Release(ctx, me)
	record, err := os.ReadFile(holder.ownerPath())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(holder.ownerPath())
	// WHEN a canceled status asks while the record is missing, it answers at once
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	if h, err := (&FileLock{Path: holder.Path, Wait: time.Minute}).Holder(canceled); err != nil || h == nil {
		t.Fatalf("holder %+v %v", h, err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("a canceled status waited %s", waited)
	}
	// WHEN the record appears while status waits
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.WriteFile(holder.ownerPath(), record, 0o600)
	}()
	h, err := (&FileLock{Path: holder.Path, Wait: 30 * time.Second}).Holder(ctx)
	if err != nil || h == nil || h.Owner != "alice-on-call" || h.PlanID != "plan-9" {
		t.Fatalf("holder %+v %v, want alice-on-call's plan-9", h, err)
	}
}

// TestAnOwnerRecordWithoutAProcessIsNotBelieved: an owner record naming pid 0 (damaged, or written
// by hand) is not taken as the holder: the kernel's lock table names the real one.
func TestAnOwnerRecordWithoutAProcessIsNotBelieved(t *testing.T) {
	ctx := context.Background()
	holder, err := NewFileLock(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	me := CurrentLockInfo("p", time.Now())
	if err := holder.Acquire(ctx, me); err != nil {
		t.Fatal(err)
	}
	defer holder.Release(ctx, me)
	host, _ := os.Hostname()
	record := `{"owner":"bob","host":"` + host + `","pid":0,"started":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	if err := os.WriteFile(holder.ownerPath(), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := (&FileLock{Path: holder.Path, Wait: 50 * time.Millisecond}).Holder(ctx)
	if err != nil || h == nil || h.Owner == "bob" || h.PID != os.Getpid() {
		t.Fatalf("holder %+v %v, want this process from the kernel's lock table", h, err)
	}
}

// TestProcessInfoNamesTheLoginAndStartOfAProcess: the kernel-named holder carries the process's
// login (not its uid when the login is known), this host, and the time it started.
func TestProcessInfoNamesTheLoginAndStartOfAProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	me, err := user.Current()
	if err != nil || me.Username == "" {
		t.Skip("no login for this uid")
	}
	h, ok := processInfo(os.Getpid())
	host, _ := os.Hostname()
	if !ok || h.Owner != me.Username || h.PID != os.Getpid() || h.Host != host {
		t.Fatalf("holder %+v (ok %v), want %s on %s, pid %d", h, ok, me.Username, host, os.Getpid())
	}
	// the test binary started moments ago (clock ticks are 10 ms, so allow a little slack)
	if now := time.Now(); h.Started.After(now.Add(time.Second)) || h.Started.Before(now.Add(-time.Hour)) {
		t.Fatalf("started %s, now %s", h.Started, now)
	}
	if _, ok := processInfo(-1); ok {
		t.Fatal("a process that does not exist was described")
	}
}
