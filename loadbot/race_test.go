//go:build race

package loadbot

// raceEnabled: the race detector slows every goroutine 5–10×, and on a
// 2-core CI runner the in-process SFU and bots then miss latency SLOs
// that hold easily without it.
const raceEnabled = true
