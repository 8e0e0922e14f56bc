//go:build unix && !linux

package localstack

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// setProcAttr puts the server in its own process group, so Stop can end all of it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// cpuTime is not measured outside Linux.
func (p *process) cpuTime() (time.Duration, error) {
	return 0, fmt.Errorf("%s: CPU time is only measured on Linux", p.name)
}

func (p *process) peakRSS() (int64, error) {
	return 0, fmt.Errorf("%s: peak memory is only measured on Linux", p.name)
}

// PeakRSS returns a live process's peak resident set size (Linux only).
func PeakRSS(pid int) (int64, error) {
	return 0, fmt.Errorf("process %d: peak memory is only measured on Linux", pid)
}
