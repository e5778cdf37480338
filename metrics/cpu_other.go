//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package metrics

func processCPUSeconds() (float64, error) { return 0, ErrCPUUnsupported }
