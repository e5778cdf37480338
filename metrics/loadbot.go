package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Role is what a bot does in a room.
type Role int

// Bot roles.
const (
	RolePublisher Role = iota
	RoleSubscriber
	numRoles
)

var roleNames = [numRoles]string{"publisher", "subscriber"}

// String is the {role} label value.
func (r Role) String() string {
	if r < 0 || r >= numRoles {
		return "unknown"
	}
	return roleNames[r]
}

// BotState is where a bot is in its life.
type BotState int

// Bot states.
const (
	BotConnecting BotState = iota
	BotConnected
	BotFailed
	numBotStates
)

var botStateNames = [numBotStates]string{"connecting", "connected", "failed"}

// String is the {state} label value.
func (s BotState) String() string {
	if s < 0 || s >= numBotStates {
		return "unknown"
	}
	return botStateNames[s]
}

var (
	// A join is WebSocket connect, join answer, ICE and DTLS: tens of ms on
	// loopback, seconds on a loaded SFU, and the timeout (~30s) at worst.
	joinBuckets = prometheus.ExponentialBucketsRange(0.01, 30, 12)
	// One-way media latency: sub-ms on loopback up to seconds when queues
	// build; the SLO threshold sits in the middle.
	latencyBuckets = prometheus.ExponentialBucketsRange(0.0005, 5, 16)
)

// Loadbot holds one loadbot process's collectors. Methods are safe for
// concurrent use by many bots.
type Loadbot struct {
	bots          [numRoles][numBotStates]prometheus.Gauge
	joins         *prometheus.CounterVec
	joinSeconds   prometheus.Histogram
	latency       prometheus.Histogram
	packetsIn     prometheus.Counter
	packetsLost   prometheus.Counter
	freezes       prometheus.Counter
	freezeSeconds prometheus.Counter
	layerSeconds  [numLayers]prometheus.Counter
	cpuCores      prometheus.Gauge
}

// NewLoadbot builds loadbot's collectors and registers them on reg (nil: not
// registered). constLabels is added to every series, e.g.
// {"instance_id": "lb-3"}, so several loadbot processes scraped into one
// Prometheus stay distinct and dashboards can sum() across them. It panics if
// reg already holds collectors with the same names and labels.
func NewLoadbot(reg prometheus.Registerer, constLabels prometheus.Labels) *Loadbot {
	m := &Loadbot{}
	bots := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "loadbot_bots", Help: "Bots in this process, by role and state.", ConstLabels: constLabels,
	}, []string{"role", "state"})
	m.joins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "loadbot_joins_total", Help: "Bot join attempts, by result.", ConstLabels: constLabels,
	}, []string{"result"})
	m.joinSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "loadbot_join_seconds", Help: "Time from dialing signaling to first media, for successful joins.",
		ConstLabels: constLabels, Buckets: joinBuckets,
	})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "loadbot_latency_seconds", Help: "One-way media latency, publisher send (abs-capture-time) to subscriber arrival.",
		ConstLabels: constLabels, Buckets: latencyBuckets,
	})
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: constLabels})
	}
	m.packetsIn = counter("loadbot_packets_received_total", "RTP packets received by subscriber bots.")
	m.packetsLost = counter("loadbot_packets_lost_total", "RTP packets subscriber bots never received (sequence gaps, net of late arrivals).")
	m.freezes = counter("loadbot_freezes_total", "Video freezes seen by subscriber bots (W3C webrtc-stats definition).")
	m.freezeSeconds = counter("loadbot_freeze_seconds_total", "Total duration of video freezes seen by subscriber bots.")
	layerSeconds := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "loadbot_layer_seconds_total", Help: "Video-track seconds received on each simulcast layer.", ConstLabels: constLabels,
	}, []string{"layer"})
	m.cpuCores = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "loadbot_cpu_cores", Help: "Cores this loadbot process uses; near its core count, results measure loadbot, not the SFU.",
		ConstLabels: constLabels,
	})

	for r := Role(0); r < numRoles; r++ {
		for s := BotState(0); s < numBotStates; s++ {
			m.bots[r][s] = bots.WithLabelValues(r.String(), s.String())
		}
	}
	for _, r := range joinResults {
		m.joins.WithLabelValues(r)
	}
	for l := Layer(0); l < numLayers; l++ {
		m.layerSeconds[l] = layerSeconds.WithLabelValues(l.String())
	}

	if reg != nil {
		reg.MustRegister(bots, m.joins, m.joinSeconds, m.latency, m.packetsIn, m.packetsLost,
			m.freezes, m.freezeSeconds, layerSeconds, m.cpuCores)
	}
	return m
}

// Bots is loadbot_bots{role,state}. A bot Incs the state it enters and Decs
// the one it leaves, so the gauges always sum to the bots alive.
func (m *Loadbot) Bots(r Role, s BotState) prometheus.Gauge { return m.bots[r][s] }

// MoveBot moves one bot of role r from state from to state to.
func (m *Loadbot) MoveBot(r Role, from, to BotState) {
	m.bots[r][from].Dec()
	m.bots[r][to].Inc()
}

// Join counts a join attempt by result (one of the Join* constants) and, for
// successful ones, records how long it took: failed joins mostly measure the
// timeout and would drown the distribution we care about.
func (m *Loadbot) Join(result string, took time.Duration) {
	m.joins.WithLabelValues(result).Inc()
	if result == JoinOK {
		m.joinSeconds.Observe(took.Seconds())
	}
}

// ObserveLatency records one one-way media latency sample.
func (m *Loadbot) ObserveLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }

// PacketsReceived is loadbot_packets_received_total.
func (m *Loadbot) PacketsReceived() prometheus.Counter { return m.packetsIn }

// AddLost adds n lost packets. n <= 0 is ignored: loss computed from sequence
// gaps shrinks when late packets arrive, and a counter must not go down.
func (m *Loadbot) AddLost(n int) {
	if n > 0 {
		m.packetsLost.Add(float64(n))
	}
}

// Freeze records one ended freeze of duration d.
func (m *Loadbot) Freeze(d time.Duration) {
	m.freezes.Inc()
	m.freezeSeconds.Add(d.Seconds())
}

// AddLayerTime adds d of video received on layer l. Summed over tracks, so
// rate(loadbot_layer_seconds_total) is the number of tracks on each layer.
func (m *Loadbot) AddLayerTime(l Layer, d time.Duration) {
	if d > 0 {
		m.layerSeconds[l].Add(d.Seconds())
	}
}

// SetCPUCores sets loadbot_cpu_cores, typically from a CPUSampler.
func (m *Loadbot) SetCPUCores(cores float64) { m.cpuCores.Set(cores) }
