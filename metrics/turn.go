package metrics

import "github.com/prometheus/client_golang/prometheus"

// TURNTransport is the client-to-server leg of a TURN allocation.
type TURNTransport int

// TURN transports; the values index arrays.
const (
	TURNUDP TURNTransport = iota
	TURNTCP
	TURNTLS
	numTURNTransports
)

var turnTransportNames = [numTURNTransports]string{"udp", "tcp", "tls"}

// String is the {transport} label value.
func (t TURNTransport) String() string {
	if t < 0 || t >= numTURNTransports {
		return "unknown"
	}
	return turnTransportNames[t]
}

// TURNFailure says why an Allocate request was refused.
type TURNFailure int

// TURN allocation failure reasons.
const (
	TURNUnauthorized TURNFailure = iota // unknown username format, wrong password or realm
	TURNExpired                         // the credential's expiry passed
	TURNQuota                           // the identity holds turn.user_quota allocations already
	TURNCapacity                        // no relay port could be bound
	numTURNFailures
)

var turnFailureNames = [numTURNFailures]string{"unauthorized", "expired", "quota", "capacity"}

// String is the {reason} label value.
func (r TURNFailure) String() string {
	if r < 0 || r >= numTURNFailures {
		return "unknown"
	}
	return turnFailureNames[r]
}

// TURNDenial is what a peer-address refusal stopped.
type TURNDenial int

// TURN peer denials.
const (
	TURNDeniedPermission TURNDenial = iota // a CreatePermission/ChannelBind for a denied IP
	TURNDeniedPacket                       // a packet to or from a denied ip:port
	numTURNDenials
)

var turnDenialNames = [numTURNDenials]string{"permission", "packet"}

// String is the {what} label value.
func (d TURNDenial) String() string {
	if d < 0 || d >= numTURNDenials {
		return "unknown"
	}
	return turnDenialNames[d]
}

// RelayDirection is which way a relayed packet went.
type RelayDirection int

// Relay directions.
const (
	RelayToPeer   RelayDirection = iota // client → relay → peer (the SFU)
	RelayToClient                       // peer → relay → client
	numRelayDirections
)

var relayDirectionNames = [numRelayDirections]string{"to_peer", "to_client"}

// String is the {direction} label value.
func (d RelayDirection) String() string {
	if d < 0 || d >= numRelayDirections {
		return "unknown"
	}
	return relayDirectionNames[d]
}

// TURN holds the embedded TURN server's collectors. Like SFU's, every child
// is resolved at construction; Relayed is called per relayed packet.
type TURN struct {
	allocations [numTURNTransports]prometheus.Gauge
	failures    [numTURNFailures]prometheus.Counter
	denied      [numTURNDenials]prometheus.Counter
	packets     [numRelayDirections]prometheus.Counter
	bytes       [numRelayDirections]prometheus.Counter
}

// NewTURN builds the TURN collectors and registers them on reg (nil: not
// exported, for tests).
func NewTURN(reg prometheus.Registerer) *TURN {
	m := &TURN{}
	allocations := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "surge_turn_allocations", Help: "Allocations on the embedded TURN server, by client transport.",
	}, []string{"transport"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_turn_allocation_failures_total", Help: "Allocate requests the embedded TURN server refused, by reason.",
	}, []string{"reason"})
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_turn_peer_denied_total", Help: "Relaying refused because the peer address is in a denied range (permissions, packets).",
	}, []string{"what"})
	packets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_turn_relayed_packets_total", Help: "Packets relayed by the embedded TURN server, by direction.",
	}, []string{"direction"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_turn_relayed_bytes_total", Help: "Payload bytes relayed by the embedded TURN server, by direction.",
	}, []string{"direction"})
	for t := TURNTransport(0); t < numTURNTransports; t++ {
		m.allocations[t] = allocations.WithLabelValues(t.String())
	}
	for r := TURNFailure(0); r < numTURNFailures; r++ {
		m.failures[r] = failures.WithLabelValues(r.String())
	}
	for d := TURNDenial(0); d < numTURNDenials; d++ {
		m.denied[d] = denied.WithLabelValues(d.String())
	}
	for d := RelayDirection(0); d < numRelayDirections; d++ {
		m.packets[d] = packets.WithLabelValues(d.String())
		m.bytes[d] = bytes.WithLabelValues(d.String())
	}
	if reg != nil {
		reg.MustRegister(allocations, failures, denied, packets, bytes)
	}
	return m
}

// Allocations is surge_turn_allocations{transport}.
func (m *TURN) Allocations(t TURNTransport) prometheus.Gauge { return m.allocations[t] }

// Failures is surge_turn_allocation_failures_total{reason}.
func (m *TURN) Failures(r TURNFailure) prometheus.Counter { return m.failures[r] }

// Denied is surge_turn_peer_denied_total{what}.
func (m *TURN) Denied(d TURNDenial) prometheus.Counter { return m.denied[d] }

// Relayed counts one relayed packet of n payload bytes.
func (m *TURN) Relayed(d RelayDirection, n int) {
	m.packets[d].Inc()
	m.bytes[d].Add(float64(n))
}

// ICECandidateType is the type of the client's candidate in a selected
// ICE pair, as the SFU sees it.
type ICECandidateType int

// Candidate types (RFC 8445); prflx is a client address learned from its
// connectivity checks rather than signaled.
const (
	CandidateHost ICECandidateType = iota
	CandidateSrflx
	CandidatePrflx
	CandidateRelay
	numCandidateTypes
)

var candidateTypeNames = [numCandidateTypes]string{"host", "srflx", "prflx", "relay"}

// String is the {candidate_type} label value.
func (c ICECandidateType) String() string {
	if c < 0 || c >= numCandidateTypes {
		return "unknown"
	}
	return candidateTypeNames[c]
}

// ICEProtocol is the transport between the client (or its relay) and the SFU.
type ICEProtocol int

// ICE protocols.
const (
	ProtocolUDP ICEProtocol = iota
	ProtocolTCP
	numICEProtocols
)

var iceProtocolNames = [numICEProtocols]string{"udp", "tcp"}

// String is the {protocol} label value.
func (p ICEProtocol) String() string {
	if p < 0 || p >= numICEProtocols {
		return "unknown"
	}
	return iceProtocolNames[p]
}

// ICEPaths is surge_ice_selected_pairs: connected PeerConnections by the
// path their selected candidate pair takes, so an operator sees how many
// users need TURN or ICE-TCP.
type ICEPaths struct {
	pairs [numCandidateTypes][numICEProtocols]prometheus.Gauge
}

// NewICEPaths builds the gauge and registers it on reg (nil: not exported).
func NewICEPaths(reg prometheus.Registerer) *ICEPaths {
	m := &ICEPaths{}
	pairs := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "surge_ice_selected_pairs",
		Help: "Connected PeerConnections (two per participant at most) by the client candidate type and protocol of the selected ICE pair.",
	}, []string{"candidate_type", "protocol"})
	for c := ICECandidateType(0); c < numCandidateTypes; c++ {
		for p := ICEProtocol(0); p < numICEProtocols; p++ {
			m.pairs[c][p] = pairs.WithLabelValues(c.String(), p.String())
		}
	}
	if reg != nil {
		reg.MustRegister(pairs)
	}
	return m
}

// Pairs is surge_ice_selected_pairs{candidate_type,protocol}.
func (m *ICEPaths) Pairs(c ICECandidateType, p ICEProtocol) prometheus.Gauge { return m.pairs[c][p] }
