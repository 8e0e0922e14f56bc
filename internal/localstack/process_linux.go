package localstack

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setProcAttr puts the server in its own process group (so Stop can end all of it) and has the
// kernel kill it when the test process dies (a panicking test or a go test timeout never leaves
// servers behind).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// cpuTime returns the CPU time (user + system) the process has used so far, from /proc. Benchmarks
// read it to show how busy the server was, i.e. whether a client was waiting on it.
func (p *process) cpuTime() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s: reading its CPU time: %w", p.name, err)
	}
	// Fields after "(comm) ": state is field 3 of stat(5); utime and stime are fields 14 and 15.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: unexpected /proc stat format", p.name)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected /proc stat format", p.name)
	}
	// Linux reports clock ticks of USER_HZ, which is 100 on every architecture Go supports.
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// peakRSS returns the process's peak resident set size (VmHWM), in bytes.
func (p *process) peakRSS() (int64, error) {
	return PeakRSS(p.cmd.Process.Pid)
}

// PeakRSS returns a live process's peak resident set size (VmHWM of /proc/<pid>/status), in bytes.
func PeakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: reading its peak memory: %w", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("process %d: unexpected VmHWM %q", pid, rest)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("process %d: no VmHWM in its status", pid)
}

// RunMeasured runs cmd to its end and returns its peak resident set size in bytes, sampled from
// VmHWM while it runs (every 20 ms; the last sample before it exits is the peak, short of growth in
// its last 20 ms). The kernel's figure for a child (wait4's ru_maxrss) is no use from a Go parent:
// it is at least the parent's own peak at the fork, because the child's memory before exec was
// the parent's (a /bin/true started by a process holding 300 MB reports 302 MB).
func RunMeasured(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := PeakRSS(cmd.Process.Pid); err == nil {
			peak = max(peak, b)
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}
