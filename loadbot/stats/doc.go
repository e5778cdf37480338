// Package stats turns the packets a loadbot subscriber receives into
// quality numbers: one-way latency, loss after retransmission, RFC 3550
// jitter, frames, freezes, time on each simulcast layer, bitrate and the
// NACK/PLI counters the bot bumps.
//
// Data enters through TrackStats.OnPacket, called by the goroutine that reads
// the track, with the arrival time passed in: nothing here reads a clock,
// starts a goroutine or takes a lock, so every number is reproducible in a
// test. Data leaves as a Snapshot, a plain value the runner may keep, merge
// into an Aggregate and hand to package report.
package stats
