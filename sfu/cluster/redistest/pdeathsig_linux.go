package redistest

import (
	"os/exec"
	"syscall"
)

// KillWithParent makes the kernel kill cmd when the test process dies, so
// that a test binary that panics or times out leaves no server behind.
func KillWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
