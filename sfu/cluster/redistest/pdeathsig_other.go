//go:build !linux

package redistest

import "os/exec"

// KillWithParent is a no-op where the kernel cannot tie a child's life to
// its parent's.
func KillWithParent(*exec.Cmd) {}
