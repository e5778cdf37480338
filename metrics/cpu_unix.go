//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package metrics

import "syscall"

// processCPUSeconds reads user + system CPU time via getrusage: no cgo and,
// unlike /proc/self/stat, no guessing at the clock tick.
func processCPUSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime), nil
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
