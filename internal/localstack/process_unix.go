//go:build unix && !linux

package localstack

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in its own process group, so Stop can end all of it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
