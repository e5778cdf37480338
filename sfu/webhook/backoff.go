package webhook

import "time"

// maxBackoff caps the wait between two attempts.
const maxBackoff = 30 * time.Second

// Backoff is the wait before attempt n+1 after n failed attempts (n >= 1):
// base doubled per failure, capped at maxBackoff, scaled by jitter in
// [0.5, 1.5) so that many nodes retrying one endpoint spread out.
func Backoff(n int, base time.Duration, jitter float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	jitter = min(max(jitter, 0.5), 1.5)
	return time.Duration(float64(d) * jitter)
}
