//go:build race

package sfu

// raceEnabled: the race detector slows every goroutine 5–10×; tests that
// drive many sockets scale down under it to stay well inside the suite's time.
const raceEnabled = true
