// Package report is loadbot's result: the Report data model, whose JSON
// form is a documented public contract (docs/loadbot-report.md), the SLO
// verdict and ramp decisions, and the renderings of a Report as JSON, a
// terminal table and a self-contained HTML page.
//
// Data enters as plain inputs the runner fills (Input, RoomInput,
// BotInput with stats.Snapshot values, SFU scrape numbers, timeline
// samples); Build turns them into a Report. Everything here is pure: no
// clock reads, no goroutines, no I/O except into the writer handed in.
package report

import "time"

// Version is the schema version written to Report.Version. It changes
// only when a field changes meaning or disappears; new fields keep it.
const Version = 1

// Report is one loadbot run or ramp.
type Report struct {
	Version   int           `json:"version"`
	Scenario  Scenario      `json:"scenario"`
	StartedAt time.Time     `json:"started_at"`
	EndedAt   time.Time     `json:"ended_at"`
	Partial   bool          `json:"partial"`
	Summary   Summary       `json:"summary"`
	Rooms     []Room        `json:"rooms"`
	Timeline  []Point       `json:"timeline"`
	Steps     []Step        `json:"steps,omitempty"`
	Capacity  *CapacityStep `json:"capacity,omitempty"`
}

// Scenario records the inputs of the run, so a report explains itself.
type Scenario struct {
	Mode         string  `json:"mode"` // "run" or "ramp"
	URL          string  `json:"url"`
	Rooms        int     `json:"rooms"`
	Publishers   int     `json:"publishers"`  // per room
	Subscribers  int     `json:"subscribers"` // per room
	DurationS    float64 `json:"duration_s"`
	JoinRate     float64 `json:"join_rate"` // joins per second
	Simulcast    bool    `json:"simulcast"`
	ShapedShare  float64 `json:"shaped_share"` // 0..1 of subscribers on a shaped link
	DownlinkKbps int     `json:"downlink_kbps"`
	SRTP         bool    `json:"srtp"`
}

// Summary is the whole run in one set of numbers.
type Summary struct {
	Bots               Bots           `json:"bots"`
	JoinMs             P50P95P99      `json:"join_ms"`
	JoinFailures       map[string]int `json:"join_failures"`
	LatencyMs          Latency        `json:"latency_ms"`
	LossPct            float64        `json:"loss_pct"`
	JitterMs           float64        `json:"jitter_ms"`
	Freezes            Freezes        `json:"freezes"`
	Layers             Layers         `json:"layers"`
	BitrateKbps        float64        `json:"bitrate_kbps"`
	NACKsSent          uint64         `json:"nacks_sent"`
	PLIsSent           uint64         `json:"plis_sent"`
	TimeToFirstFrameMs P50P99         `json:"time_to_first_frame_ms"`
	SFU                SFU            `json:"sfu"`
	Loadbot            Loadbot        `json:"loadbot"`
	SLO                Verdict        `json:"slo"`

	// Redirects, reconnects and media gaps: a multi-node SFU, a node lost
	// or drained mid-run.
	Redirects       int       `json:"redirects"`
	Reconnects      int       `json:"reconnects"`
	ReconnectedBots int       `json:"reconnected_bots"`
	MediaGapMs      P50P99Max `json:"media_gap_ms"`
	MediaLostBots   int       `json:"media_lost_bots"`
}

// Bots counts bots against the target.
type Bots struct {
	Target    int `json:"target"`
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
}

// JoinFailurePct returns failed joins as a percentage of the target.
func (b Bots) JoinFailurePct() float64 {
	if b.Target == 0 {
		return 0
	}
	return float64(b.Failed) / float64(b.Target) * 100
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// P50P95P99 is a distribution in milliseconds without its maximum.
type P50P95P99 struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// P50P99 is a distribution in milliseconds, median and tail.
type P50P99 struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// P50P99Max is a distribution in milliseconds, median, tail and worst.
type P50P99Max struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Freezes counts video freezes (W3C webrtc-stats definition).
type Freezes struct {
	Count  int     `json:"count"`
	TotalS float64 `json:"total_s"`
	// PerMin is freezes per minute of video received, what the SLO limits.
	PerMin float64 `json:"per_min"`
}

// Layers is the share (0..1) of subscriber video time on each layer.
type Layers struct {
	Q float64 `json:"q"`
	H float64 `json:"h"`
	F float64 `json:"f"`
}

// SFU is what the SFU's own /metrics said during the run.
type SFU struct {
	CPUCores         float64            `json:"cpu_cores"`
	GOMAXPROCS       int                `json:"gomaxprocs"`
	CPUHeadroomPct   float64            `json:"cpu_headroom_pct"`
	ForwardLatencyMs P50P99             `json:"forward_latency_ms"`
	Dropped          map[string]float64 `json:"dropped"`
	Scraped          bool               `json:"scraped"`
}

// Loadbot is loadbot's own load, to tell an SFU limit from a loadbot one.
type Loadbot struct {
	CPUCores   float64 `json:"cpu_cores"`
	Bottleneck bool    `json:"bottleneck"`
}

// Verdict is the SLO outcome.
type Verdict struct {
	Passed   bool     `json:"passed"`
	Breaches []Breach `json:"breaches"`
}

// Breach is one SLO limit that did not hold.
type Breach struct {
	Name      string  `json:"name"`
	Threshold float64 `json:"threshold"`
	Actual    float64 `json:"actual"`
}

// Room is one room's results.
type Room struct {
	Name        string  `json:"name"`
	Publishers  int     `json:"publishers"`
	Subscribers int     `json:"subscribers"`
	LatencyMs   Latency `json:"latency_ms"`
	LossPct     float64 `json:"loss_pct"`
	JitterMs    float64 `json:"jitter_ms"`
	Freezes     Freezes `json:"freezes"`
	Layers      Layers  `json:"layers"`
	Bots        []Bot   `json:"bots"`
}

// Bot is one bot's results; for a publisher the media fields stay zero.
type Bot struct {
	ID                 string    `json:"id"`
	Role               string    `json:"role"` // "publisher" or "subscriber"
	Shaped             bool      `json:"shaped"`
	LatencyMs          P50P99Max `json:"latency_ms"`
	LossPct            float64   `json:"loss_pct"`
	JitterMs           float64   `json:"jitter_ms"`
	Layers             Layers    `json:"layers"`
	Freezes            Freezes   `json:"freezes"`
	Frames             uint64    `json:"frames"`
	TimeToFirstFrameMs float64   `json:"time_to_first_frame_ms"`
	JoinMs             float64   `json:"join_ms"`
	// JoinFailure is the failure reason; empty when the bot joined.
	JoinFailure string `json:"join_failure,omitempty"`
	Redirects   int    `json:"redirects"`
	Reconnects  int    `json:"reconnects"`
	// MediaGapMs is the bot's longest media gap after a lost session.
	MediaGapMs float64 `json:"media_gap_ms"`
	// MediaLost: media had not come back when the run ended.
	MediaLost bool   `json:"media_lost"`
	SignalURL string `json:"signal_url,omitempty"`
}

// Point is one timeline sample: the interval ending T seconds in.
type Point struct {
	TS          float64 `json:"t_s"`
	Bots        int     `json:"bots"`
	LatencyMs   P50P99  `json:"latency_ms"`
	LossPct     float64 `json:"loss_pct"`
	SFUCPUCores float64 `json:"sfu_cpu_cores"`
}

// Step is one ramp step's results.
type Step struct {
	Step           int      `json:"step"`
	Rooms          int      `json:"rooms"`
	Subscribers    int      `json:"subscribers"` // per room
	Bots           int      `json:"bots"`
	LatencyMs      Latency  `json:"latency_ms"`
	LossPct        float64  `json:"loss_pct"`
	JoinFailurePct float64  `json:"join_failure_pct"`
	Freezes        int      `json:"freezes"`
	SFUCPUCores    float64  `json:"sfu_cpu_cores"`
	Passed         bool     `json:"passed"`
	Breaches       []Breach `json:"breaches"`
}

// CapacityStep is the last ramp step that held its SLO: the capacity.
type CapacityStep struct {
	Step        int `json:"step"`
	Bots        int `json:"bots"`
	Rooms       int `json:"rooms"`
	Subscribers int `json:"subscribers"` // per room
}
