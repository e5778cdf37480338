// Package metrics owns Surge's Prometheus collectors: the SFU's (SFU), the
// load generator's (Loadbot), and the CPU arithmetic loadbot uses to turn
// an SFU's /metrics into cores used and headroom (CPUSampler, ParseSFUScrape).
//
// Collectors are registered on a Registerer the caller injects and the
// package holds no globals, so tests and several servers can share one
// process. Every labelled child is resolved once at construction and handed
// out through small-int enums: the packet path indexes an array and calls an
// atomic add, with no label hashing, string building or allocation.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Kind is a track's media kind.
type Kind int

// Media kinds; the values index arrays, so keep them dense.
const (
	KindAudio Kind = iota
	KindVideo
	numKinds
)

var kindNames = [numKinds]string{"audio", "video"}

// String is the {kind} label value.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// Layer is a simulcast layer, lowest first.
type Layer int

// Simulcast layers, named after their RIDs.
const (
	LayerQ Layer = iota // quarter resolution
	LayerH              // half resolution
	LayerF              // full resolution
	numLayers
)

var layerNames = [numLayers]string{"q", "h", "f"}

// String is the {layer} label value and the layer's RID.
func (l Layer) String() string {
	if l < 0 || l >= numLayers {
		return "unknown"
	}
	return layerNames[l]
}

// DropReason says why the SFU did not deliver a packet to a subscriber.
type DropReason int

// Drop reasons. The first group are faults worth alerting on; the second
// (NotTargetLayer, Paused, WaitingKeyframe) are the selective forwarder doing
// its job, counted so that "packets in × subscribers ≈ out + dropped" adds up.
const (
	DropSubscriberQueueFull DropReason = iota // a slow subscriber: dropped rather than stall the room
	DropWriteError                            // the subscriber's transport refused the write
	DropTooOld                                // arrived too late to be useful (behind the munger's window)
	DropMalformed                             // failed to parse (RTP header, VP8 descriptor)
	// DropCacheMiss counts NACKed packets that were no longer in the packet
	// cache. There is deliberately no surge_nack_missed_total: requests =
	// answered + dropped{reason="cache_miss"}, so one series suffices.
	DropCacheMiss

	DropNotTargetLayer  // simulcast: not the layer this subscriber is on
	DropPaused          // simulcast: video paused, the estimate does not fit the lowest layer
	DropWaitingKeyframe // simulcast: switching, holding until the target layer's keyframe

	// Retransmission budget (a subscriber's NACKs must not cost more than a
	// share of its media): a packet already resent within about an RTT,
	// and retransmissions over the subscriber's byte budget.
	DropNACKRepeat
	DropNACKBudget
	// DropNACKStale: a NACKed packet from before the subscriber's last
	// switch or resume; its decoder restarts at that keyframe, and the
	// resend would only compete with the keyframe's on a short link.
	DropNACKStale
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	"subscriber_queue_full",
	"write_error",
	"too_old",
	"malformed",
	"cache_miss",
	"not_target_layer",
	"paused",
	"waiting_keyframe",
	"nack_repeat",
	"nack_budget",
	"nack_stale",
}

// PeerLimit names a per-peer budget that dropped something a peer sent.
type PeerLimit int

// Per-peer budgets (surge_peer_limited_total{limit}).
const (
	LimitSignal      PeerLimit = iota // signaling messages over signal rate
	LimitRTCP                         // RTCP packets over the per-connection rate
	LimitBytes                        // datagrams over the per-connection byte rate
	LimitUnknownSSRC                  // SRTP/SRTCP from SSRCs beyond the per-connection cap
	numPeerLimits
)

var peerLimitNames = [numPeerLimits]string{"signal_messages", "rtcp_packets", "bytes", "unknown_ssrc"}

// String is the {limit} label value.
func (l PeerLimit) String() string {
	if l < 0 || l >= numPeerLimits {
		return "unknown"
	}
	return peerLimitNames[l]
}

// String is the {reason} label value.
func (r DropReason) String() string {
	if r < 0 || r >= numDropReasons {
		return "unknown"
	}
	return dropReasonNames[r]
}

// Direction is the direction of a simulcast layer switch.
type Direction int

// Switch directions.
const (
	Up Direction = iota
	Down
	numDirections
)

var directionNames = [numDirections]string{"up", "down"}

// String is the {direction} label value.
func (d Direction) String() string {
	if d < 0 || d >= numDirections {
		return "unknown"
	}
	return directionNames[d]
}

// SwitchReason says why the selector changed a subscriber's layer.
type SwitchReason int

// Switch reasons. An enum rather than free text keeps the series count fixed
// and lets every series exist (at zero) from the first scrape.
const (
	SwitchBandwidth        SwitchReason = iota // the estimate rose above / fell below a layer's bitrate
	SwitchLoss                                 // sustained loss on the subscriber's link
	SwitchPreference                           // the subscriber changed its max-layer preference
	SwitchLayerUnavailable                     // the publisher stopped (or resumed) sending a layer
	numSwitchReasons
)

var switchReasonNames = [numSwitchReasons]string{"bandwidth", "loss", "preference", "layer_unavailable"}

// String is the {reason} label value.
func (r SwitchReason) String() string {
	if r < 0 || r >= numSwitchReasons {
		return "unknown"
	}
	return switchReasonNames[r]
}

// Join results for SFU.Joins and Loadbot.Join. They match the signaling
// error codes; pass one of these rather than an error string so the label
// set stays small.
const (
	JoinOK           = "ok"
	JoinUnauthorized = "unauthorized"
	JoinTokenExpired = "token_expired"
	JoinRoomFull     = "room_full"
	JoinForbidden    = "forbidden"
	JoinDraining     = "draining"
	JoinBadRequest   = "bad_request"
	JoinError        = "error"
	JoinRedirect     = "redirect" // the room is on another node; the client was sent there
)

var joinResults = []string{
	JoinOK, JoinUnauthorized, JoinTokenExpired, JoinRoomFull,
	JoinForbidden, JoinDraining, JoinBadRequest, JoinError, JoinRedirect,
}

// Histogram buckets. Exponential because each quantity spans several orders
// of magnitude and we care about relative, not absolute, resolution.
var (
	// In-SFU forwarding: ~µs when the loop is idle, tens of ms when it is
	// overloaded, which is exactly what capacity tests look for.
	forwardLatencyBuckets = prometheus.ExponentialBucketsRange(1e-6, 0.05, 16)
	rttBuckets            = prometheus.ExponentialBucketsRange(0.001, 2, 12)
	switchLatencyBuckets  = prometheus.ExponentialBucketsRange(0.01, 10, 10)
	bandwidthBuckets      = prometheus.ExponentialBucketsRange(50e3, 20e6, 10)
)

// SFU holds the SFU's collectors. Its methods return pre-resolved children,
// safe for concurrent use and free of allocation; call them on the packet
// path as m.PacketsIn(KindVideo).Inc(). Enum arguments must be one of the
// declared constants.
type SFU struct {
	rooms            prometheus.Gauge
	participants     prometheus.Gauge
	tracksPublished  [numKinds]prometheus.Gauge
	tracksSubscribed [numKinds]prometheus.Gauge
	pausedTracks     prometheus.Gauge
	currentLayer     [numLayers]prometheus.Gauge

	packetsIn  [numKinds]prometheus.Counter
	bytesIn    [numKinds]prometheus.Counter
	packetsOut [numKinds]prometheus.Counter
	bytesOut   [numKinds]prometheus.Counter
	dropped    [numDropReasons]prometheus.Counter
	limited    [numPeerLimits]prometheus.Counter

	probePackets prometheus.Counter
	udpMessages  prometheus.Counter
	udpGSO       prometheus.Gauge
	nackRequests prometheus.Counter
	nackAnswered prometheus.Counter
	pliForwarded prometheus.Counter
	pliThrottled prometheus.Counter
	joins        *prometheus.CounterVec
	switches     [numDirections][numSwitchReasons]prometheus.Counter
	switchPLIs   prometheus.Counter

	forwardLatency    prometheus.Histogram
	rtt               prometheus.Histogram
	switchLatency     prometheus.Histogram
	bandwidthEstimate prometheus.Histogram
}

// NewSFU builds the SFU's collectors and registers them on reg, together
// with the Go runtime and process collectors (loadbot reads
// process_cpu_seconds_total to measure the SFU's CPU). It panics if reg
// already holds them, like MustRegister. A nil reg gives working collectors
// that nobody exports, which is handy in tests of other packages.
func NewSFU(reg prometheus.Registerer) *SFU {
	m := &SFU{}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}

	m.rooms = gauge("surge_rooms", "Rooms open on this node.")
	m.participants = gauge("surge_participants", "Participants connected to this node.")
	tracksPublished := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "surge_tracks_published", Help: "Tracks published to this node.",
	}, []string{"kind"})
	tracksSubscribed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "surge_tracks_subscribed", Help: "Subscriptions (down tracks) served by this node.",
	}, []string{"kind"})
	gomaxprocs := gauge("surge_gomaxprocs", "runtime.GOMAXPROCS at start: the cores the SFU can use, the denominator of CPU headroom.")
	gomaxprocs.Set(float64(runtime.GOMAXPROCS(0)))
	hostCores := gauge("surge_host_cpu_cores", "Logical CPUs on the host (runtime.NumCPU).")
	hostCores.Set(float64(runtime.NumCPU()))
	m.udpGSO = gauge("surge_udp_gso", "1 while media sends use UDP GSO; 0 when forward.udp_gso is off, the kernel has no GSO, or the kernel refused a GSO send (the log says which).")
	m.pausedTracks = gauge("surge_simulcast_paused_tracks", "Subscribed video tracks paused because the estimate does not fit the lowest layer.")
	currentLayer := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "surge_simulcast_current_layer", Help: "Subscribed video tracks currently forwarded from each simulcast layer.",
	}, []string{"layer"})

	packetsIn := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_packets_received_total", Help: "RTP packets received from publishers.",
	}, []string{"kind"})
	bytesIn := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_bytes_received_total", Help: "RTP bytes (header and payload) received from publishers.",
	}, []string{"kind"})
	packetsOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_packets_sent_total", Help: "RTP packets written to subscribers, retransmissions included.",
	}, []string{"kind"})
	bytesOut := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_bytes_sent_total", Help: "RTP bytes (header and payload) written to subscribers.",
	}, []string{"kind"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_packets_dropped_total", Help: "Packets not delivered to a subscriber, by reason.",
	}, []string{"reason"})

	m.probePackets = counter("surge_bwe_probe_packets_total", "Padding packets sent to probe subscribers' bandwidth.")
	m.udpMessages = counter("surge_udp_messages_sent_total", "UDP messages the SFU's send path handed to the kernel; with UDP GSO one message carries several of a subscriber's packets.")
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_peer_limited_total", Help: "Signaling messages and datagrams a peer sent that were dropped by its per-peer budget, by limit.",
	}, []string{"limit"})

	m.nackRequests = counter("surge_nack_requests_total", "Packets subscribers asked to be retransmitted (NACKed sequence numbers).")
	m.nackAnswered = counter("surge_nack_answered_total", "NACKed packets retransmitted from the packet cache; the rest are surge_packets_dropped_total{reason=\"cache_miss\"}.")
	m.pliForwarded = counter("surge_pli_forwarded_total", "Keyframe requests (PLI/FIR) forwarded to publishers.")
	m.pliThrottled = counter("surge_pli_throttled_total", "Keyframe requests suppressed by the per-track throttle.")
	m.joins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_joins_total", Help: "Join attempts, by result.",
	}, []string{"result"})
	switches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_simulcast_layer_switches_total", Help: "Simulcast layer switches taken, by direction and reason.",
	}, []string{"direction", "reason"})
	m.switchPLIs = counter("surge_simulcast_switch_plis_total", "Keyframe requests sent to publishers to complete a layer switch.")

	m.forwardLatency = histogram("surge_forward_latency_seconds",
		"Time from reading a packet off the publisher to writing it to a subscriber.", forwardLatencyBuckets)
	m.rtt = histogram("surge_rtt_seconds", "Subscriber round-trip time from RTCP receiver reports.", rttBuckets)
	m.switchLatency = histogram("surge_simulcast_switch_latency_seconds",
		"Time from a layer-switch decision to the switch taking effect at the target layer's keyframe.", switchLatencyBuckets)
	m.bandwidthEstimate = histogram("surge_bandwidth_estimate_bps",
		"Subscriber downlink bandwidth estimates, in bits per second.", bandwidthBuckets)

	// Resolve every child now: the packet path must not hash labels, and a
	// series that exists at zero makes rate() and dashboards well defined
	// before the first event.
	for k := Kind(0); k < numKinds; k++ {
		m.tracksPublished[k] = tracksPublished.WithLabelValues(k.String())
		m.tracksSubscribed[k] = tracksSubscribed.WithLabelValues(k.String())
		m.packetsIn[k] = packetsIn.WithLabelValues(k.String())
		m.bytesIn[k] = bytesIn.WithLabelValues(k.String())
		m.packetsOut[k] = packetsOut.WithLabelValues(k.String())
		m.bytesOut[k] = bytesOut.WithLabelValues(k.String())
	}
	for l := Layer(0); l < numLayers; l++ {
		m.currentLayer[l] = currentLayer.WithLabelValues(l.String())
	}
	for r := DropReason(0); r < numDropReasons; r++ {
		m.dropped[r] = dropped.WithLabelValues(r.String())
	}
	for l := PeerLimit(0); l < numPeerLimits; l++ {
		m.limited[l] = limited.WithLabelValues(l.String())
	}
	for d := Direction(0); d < numDirections; d++ {
		for r := SwitchReason(0); r < numSwitchReasons; r++ {
			m.switches[d][r] = switches.WithLabelValues(d.String(), r.String())
		}
	}
	for _, r := range joinResults {
		m.joins.WithLabelValues(r)
	}

	if reg != nil {
		reg.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
			m.rooms, m.participants, tracksPublished, tracksSubscribed,
			gomaxprocs, hostCores, m.udpGSO, m.pausedTracks, currentLayer,
			packetsIn, bytesIn, packetsOut, bytesOut, dropped, limited,
			m.probePackets, m.udpMessages, m.nackRequests, m.nackAnswered, m.pliForwarded, m.pliThrottled,
			m.joins, switches, m.switchPLIs,
			m.forwardLatency, m.rtt, m.switchLatency, m.bandwidthEstimate,
		)
	}
	return m
}

// Rooms is surge_rooms.
func (m *SFU) Rooms() prometheus.Gauge { return m.rooms }

// Participants is surge_participants.
func (m *SFU) Participants() prometheus.Gauge { return m.participants }

// TracksPublished is surge_tracks_published{kind}.
func (m *SFU) TracksPublished(k Kind) prometheus.Gauge { return m.tracksPublished[k] }

// TracksSubscribed is surge_tracks_subscribed{kind}.
func (m *SFU) TracksSubscribed(k Kind) prometheus.Gauge { return m.tracksSubscribed[k] }

// PacketsIn is surge_packets_received_total{kind}.
func (m *SFU) PacketsIn(k Kind) prometheus.Counter { return m.packetsIn[k] }

// BytesIn is surge_bytes_received_total{kind}.
func (m *SFU) BytesIn(k Kind) prometheus.Counter { return m.bytesIn[k] }

// PacketsOut is surge_packets_sent_total{kind}.
func (m *SFU) PacketsOut(k Kind) prometheus.Counter { return m.packetsOut[k] }

// UDPGSO is surge_udp_gso.
func (m *SFU) UDPGSO() prometheus.Gauge { return m.udpGSO }

// UDPMessages is surge_udp_messages_sent_total.
func (m *SFU) UDPMessages() prometheus.Counter { return m.udpMessages }

// BytesOut is surge_bytes_sent_total{kind}.
func (m *SFU) BytesOut(k Kind) prometheus.Counter { return m.bytesOut[k] }

// Received counts one packet of n bytes from a publisher.
func (m *SFU) Received(k Kind, n int) {
	m.packetsIn[k].Inc()
	m.bytesIn[k].Add(float64(n))
}

// Sent counts one packet of n bytes written to a subscriber.
func (m *SFU) Sent(k Kind, n int) {
	m.packetsOut[k].Inc()
	m.bytesOut[k].Add(float64(n))
}

// Dropped is surge_packets_dropped_total{reason}.
func (m *SFU) Dropped(r DropReason) prometheus.Counter { return m.dropped[r] }

// ProbePackets is surge_bwe_probe_packets_total.
func (m *SFU) ProbePackets() prometheus.Counter { return m.probePackets }

// PeerLimited is surge_peer_limited_total{limit}.
func (m *SFU) PeerLimited(l PeerLimit) prometheus.Counter { return m.limited[l] }

// NACKRequests is surge_nack_requests_total: count each NACKed sequence
// number, not each NACK packet.
func (m *SFU) NACKRequests() prometheus.Counter { return m.nackRequests }

// NACKAnswered is surge_nack_answered_total. A request the cache cannot
// answer goes to Dropped(DropCacheMiss).
func (m *SFU) NACKAnswered() prometheus.Counter { return m.nackAnswered }

// PLIForwarded is surge_pli_forwarded_total.
func (m *SFU) PLIForwarded() prometheus.Counter { return m.pliForwarded }

// PLIThrottled is surge_pli_throttled_total.
func (m *SFU) PLIThrottled() prometheus.Counter { return m.pliThrottled }

// Joins is surge_joins_total{result}; result should be one of the Join*
// constants. Joins are rare, so this resolves the label on each call.
func (m *SFU) Joins(result string) prometheus.Counter { return m.joins.WithLabelValues(result) }

// SimulcastPausedTracks is surge_simulcast_paused_tracks.
func (m *SFU) SimulcastPausedTracks() prometheus.Gauge { return m.pausedTracks }

// CurrentLayer is surge_simulcast_current_layer{layer}: Inc when a down track
// starts forwarding from l, Dec when it leaves it.
func (m *SFU) CurrentLayer(l Layer) prometheus.Gauge { return m.currentLayer[l] }

// LayerSwitches is surge_simulcast_layer_switches_total{direction,reason}.
func (m *SFU) LayerSwitches(d Direction, r SwitchReason) prometheus.Counter {
	return m.switches[d][r]
}

// SwitchPLIs is surge_simulcast_switch_plis_total.
func (m *SFU) SwitchPLIs() prometheus.Counter { return m.switchPLIs }

// ForwardLatency is surge_forward_latency_seconds. Observing is an atomic
// add plus a bucket search; if it shows in profiles at high fan-out, observe
// one packet in N rather than dropping the metric.
func (m *SFU) ForwardLatency() prometheus.Observer { return m.forwardLatency }

// RTT is surge_rtt_seconds.
func (m *SFU) RTT() prometheus.Observer { return m.rtt }

// SwitchLatency is surge_simulcast_switch_latency_seconds.
func (m *SFU) SwitchLatency() prometheus.Observer { return m.switchLatency }

// BandwidthEstimate is surge_bandwidth_estimate_bps.
func (m *SFU) BandwidthEstimate() prometheus.Observer { return m.bandwidthEstimate }
