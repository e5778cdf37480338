// Package bwe estimates one subscriber's downlink bandwidth from its
// transport-wide congestion control (TWCC) feedback, and decides when to
// probe for more.
//
// Data enters in two places. The send path stamps every packet it writes to
// the subscriber with a transport-wide sequence number from History.Next and
// records it with History.Sent at the real send (after the batch's syscall).
// The subscriber's TWCC feedback is turned into PacketResults by
// History.Results and fed to Estimator.OnFeedback, which combines:
//
//   - a delay-based detector (packet groups, a trendline of the one-way
//     delay variation and an adaptive threshold, as in Google's congestion
//     control) that reacts to a queue building up, gated so that delay noise
//     without a growing queue (a busy sender or receiver) does not count;
//   - a loss-based bound that never falls below what was delivered;
//   - probe clusters: bursts of padding whose dispersion at the bottleneck
//     measures the link's rate directly, so a subscriber sent less than its
//     link carries can learn so without risking a higher layer.
//
// Everything here is pure: time comes in as arguments, nothing blocks, and
// only History is shared between goroutines (through atomics).
package bwe
