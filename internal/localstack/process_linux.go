package localstack

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in its own process group (so Stop can end all of it) and has the
// kernel kill it when the test process dies (a panicking test or a go test timeout never leaves
// servers behind).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
