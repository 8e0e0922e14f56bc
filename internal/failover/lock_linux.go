package failover

import (
	"bufio"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kernelHolder names the process holding the flock on path from /proc/locks (FLOCK entries name
// the PID and the file's device and inode): its login, this host, its PID and start time.
func kernelHolder(path string) (LockInfo, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return LockInfo{}, false
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return LockInfo{}, false
	}
	defer f.Close()
	pid := flockHolder(f, st.Ino)
	if pid == 0 {
		return LockInfo{}, false
	}
	return processInfo(pid)
}

// flockHolder returns the PID holding an exclusive flock on inode ino, read from the text of
// /proc/locks, or 0.
func flockHolder(locks io.Reader, ino uint64) int {
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" {
			continue
		}
		parts := strings.Split(fields[5], ":")
		if len(parts) != 3 {
			continue
		}
		if n, err := strconv.ParseUint(parts[2], 10, 64); err != nil || n != ino {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}

// processInfo describes a process of this host: its login, PID, start time.
func processInfo(pid int) (LockInfo, bool) {
	host, _ := os.Hostname()
	h := LockInfo{Host: host, PID: pid, ProcStart: procStart(pid), Owner: "uid-unknown"}
	if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.Owner = "uid-" + strconv.Itoa(int(st.Uid))
			if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil && u.Username != "" {
				h.Owner = u.Username
			}
		}
	}
	h.Started = processStartTime(h.ProcStart)
	if h.Started.IsZero() {
		return h, false
	}
	return h, true
}

// processStartTime turns a start time in clock ticks since boot into a time (boot time from
// /proc/stat's btime; the kernel's USER_HZ is 100 on every Linux Go supports).
func processStartTime(ticks uint64) time.Time {
	if ticks == 0 {
		return time.Time{}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}
			}
			return time.Unix(boot, 0).Add(time.Duration(ticks) * time.Second / 100).UTC()
		}
	}
	return time.Time{}
}
