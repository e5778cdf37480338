// Package simulcast decides which simulcast layer each subscriber receives
// and rewrites the packets so that the subscriber sees one continuous stream.
//
// Data enters from two sides. Periodically (every few hundred milliseconds,
// and when estimates change) the sfu package feeds a subscriber's bandwidth
// estimate to an Allocator, which splits it into a budget per video track;
// each DownTrack's Selector turns its budget, the publisher's measured layer
// bitrates, loss and the subscriber's preferences into a target layer, which
// goes to the DownTrack's Forwarder with SetTarget. Per packet, the
// receiver's read loop parses every incoming RTP packet of every layer once,
// with the track's Codec (codec.go: VP8, or Passthrough for the rest), into
// a codec-neutral Meta, and hands packet and Meta to each DownTrack's
// Forwarder.Accept, which says whether to send it and with which sequence
// number, timestamp and payload (rewritten by the Codec); the DownTrack
// writes that with its own SSRC. KeyframeRequest tells the DownTrack when to send a
// PLI upstream; Retransmission and RewriteRetransmission answer the
// subscriber's NACKs from the shared packet cache.
//
// Everything here is pure: no goroutines, no locks, no I/O, and the clock is
// a parameter, so that every decision can be replayed in a test. The
// per-packet functions do not allocate.
package simulcast
