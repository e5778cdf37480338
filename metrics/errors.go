package metrics

import "errors"

// ErrCPUUnsupported means this platform offers no way to read the process's
// CPU time without cgo; run loadbot on Linux (or another Unix) to measure it.
var ErrCPUUnsupported = errors.New("metrics: process CPU time is not available on this platform")
