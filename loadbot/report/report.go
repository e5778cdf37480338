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
	// SLO holds the limits the verdict was judged against, so that a
	// merged report can judge its merged numbers the same way.
	SLO SLO `json:"slo_limits"`
	// Agents lists the loadbot processes of a coordinated or merged run,
	// each with its own summary; absent for a single process.
	Agents []Agent `json:"agents,omitempty"`
	// Warnings are what a reader must know to trust the numbers.
	Warnings []string `json:"warnings,omitempty"`
}

// Agent is one loadbot process of a coordinated (or merged) run.
type Agent struct {
	ID   string `json:"id"`
	Host string `json:"host,omitempty"`
	// Status is "ok" (its report is merged in), "lost" (it stopped
	// heartbeating or never delivered: its bots are counted as lost) or
	// "failed" (it reported an error instead of results).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Bots is how many bots it was to run.
	Bots int `json:"bots"`
	// Summary is its own result; absent when it delivered none.
	Summary *Summary `json:"summary,omitempty"`
}

// Agent statuses.
const (
	AgentOK     = "ok"
	AgentLost   = "lost"
	AgentFailed = "failed"
)

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
	// InstanceID is the loadbot process that ran the bots; empty for a
	// merged report (see agents).
	InstanceID string `json:"instance_id,omitempty"`
	// Agents and Split describe a coordinated run: how many processes
	// shared the bots and how ("rooms" or "bots").
	Agents int    `json:"agents,omitempty"`
	Split  string `json:"split,omitempty"`
	// ICETransport is the path every bot was forced onto (udp, tcp,
	// relay-udp, relay-tcp, relay-tls).
	ICETransport string `json:"ice_transport,omitempty"`
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
	// TimeToTop is over the unshaped subscribers that got video: how soon
	// after their first frame they were on the top layer, and how many
	// never were.
	TimeToTop TimeToTop `json:"time_to_top"`
	SFU       SFU       `json:"sfu"`
	Loadbot   Loadbot   `json:"loadbot"`
	SLO       Verdict   `json:"slo"`
	// ClockSkew counts packets that arrived before their capture time by
	// the receiver's clock: the sender's clock was ahead. They are not in
	// latency_ms.
	ClockSkew ClockSkew `json:"clock_skew"`
	// LatencyNote says for which rooms latency is absent and why (no
	// shared clock between publisher and subscriber); empty when every
	// room's latency was measured.
	LatencyNote string `json:"latency_note,omitempty"`
	// Paths groups connected bots by ICE path (udp, tcp, relay-udp, ...).
	Paths map[string]PathStats `json:"paths"`
	// TURNAllocationMs is the TURN allocation stage of relayed bots: their
	// PeerConnection created to its first relay candidate.
	TURNAllocationMs P50P99 `json:"turn_allocation_ms"`

	// Redirects, reconnects and media gaps: a multi-node SFU, a node lost
	// or drained mid-run.
	Redirects       int       `json:"redirects"`
	Reconnects      int       `json:"reconnects"`
	ReconnectedBots int       `json:"reconnected_bots"`
	MediaGapMs      P50P99Max `json:"media_gap_ms"`
	MediaLostBots   int       `json:"media_lost_bots"`
}

// ClockSkew is evidence of clocks that disagree.
type ClockSkew struct {
	Packets uint64  `json:"packets"`
	MaxMs   float64 `json:"max_ms"` // the largest lead of capture over arrival
}

// Bots counts bots against the target.
type Bots struct {
	Target    int `json:"target"`
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// Lost are bots of agents that were lost: their outcome is unknown.
	Lost int `json:"lost"`
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
	// LatencyClock says how publisher and subscriber clocks relate:
	// same_process, same_host, measured_offset, absent (no latency
	// measured) or partial (absent for some of the room's subscribers).
	LatencyClock string `json:"latency_clock"`
	LatencyNote  string `json:"latency_note,omitempty"`
	Bots         []Bot  `json:"bots"`
	// Timeline is the room's own, for the per-room charts.
	Timeline []RoomPoint `json:"timeline,omitempty"`
	// Raw is the room's mergeable aggregate (see raw.go).
	Raw *Raw `json:"raw,omitempty"`
}

// Latency clock sources, from the most to the least direct.
const (
	ClockSameProcess = "same_process"
	ClockSameHost    = "same_host"
	ClockMeasured    = "measured_offset"
	ClockPartial     = "partial"
	ClockAbsent      = "absent"
)

// RoomPoint is one interval of a room's timeline.
type RoomPoint struct {
	TS        float64   `json:"t_s"`
	LatencyMs P50P99    `json:"latency_ms"`
	LossPct   float64   `json:"loss_pct"`
	Raw       *PointRaw `json:"raw,omitempty"`
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
	// TimeToTopMs is from the first video frame to the first keyframe of
	// the top simulcast layer (f), the slowest of the bot's video tracks;
	// absent (nil) while any of them never reached f.
	TimeToTopMs *float64 `json:"time_to_top_ms,omitempty"`
	JoinMs      float64  `json:"join_ms"`
	// JoinStagesMs is when each stage of the join was reached, from its
	// start; a stage not reached is 0.
	JoinStagesMs JoinStages `json:"join_stages_ms"`
	// Path is the ICE path its media took; TURNAllocationMs the TURN stage
	// of its join. Both absent when they do not apply.
	Path             string  `json:"path,omitempty"`
	TURNAllocationMs float64 `json:"turn_allocation_ms,omitempty"`
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

// TimeToTop sums up Bot.TimeToTopMs over unshaped subscribers with video:
// the quantiles over those that reached the top layer, and the count that
// never did (Reached + Never is every such subscriber).
type TimeToTop struct {
	Ms      P50P99Max `json:"ms"`
	Reached int       `json:"reached"`
	Never   int       `json:"never"`
}

// JoinStages are the moments of a join, in ms from its start.
type JoinStages struct {
	WSOpen       float64 `json:"ws_open"`
	Joined       float64 `json:"joined"`
	ICEConnected float64 `json:"ice_connected"`
	FirstMedia   float64 `json:"first_media"`
}

// Point is one timeline sample: the interval ending T seconds in.
type Point struct {
	TS          float64 `json:"t_s"`
	Bots        int     `json:"bots"`
	LatencyMs   P50P99  `json:"latency_ms"`
	LossPct     float64 `json:"loss_pct"`
	SFUCPUCores float64 `json:"sfu_cpu_cores"`
	// Raw lets merged timelines recompute the percentiles exactly.
	Raw *PointRaw `json:"raw,omitempty"`
}

// Step is one ramp step's results.
type Step struct {
	Step int `json:"step"`
	// Phase is "ramp" for the growing steps, "bisect" for the steps
	// that narrow the capacity down after the first breach.
	Phase          string  `json:"phase"`
	Rooms          int     `json:"rooms"`
	Publishers     int     `json:"publishers"`  // per room
	Subscribers    int     `json:"subscribers"` // per room
	Bots           int     `json:"bots"`
	LatencyMs      Latency `json:"latency_ms"`
	LossPct        float64 `json:"loss_pct"`
	JoinFailurePct float64 `json:"join_failure_pct"`
	Freezes        int     `json:"freezes"`
	SFUCPUCores    float64 `json:"sfu_cpu_cores"`
	// SFUCPUHeadroomPct is from the busiest scrape interval of the step;
	// 0 when the SFU was not scraped (SFUScraped false).
	SFUCPUHeadroomPct float64  `json:"sfu_cpu_headroom_pct"`
	SFUScraped        bool     `json:"sfu_scraped"`
	JitterMs          float64  `json:"jitter_ms"`
	Passed            bool     `json:"passed"`
	Breaches          []Breach `json:"breaches"`
}

// CapacityStep is the largest load that held its SLO below the smallest
// load that broke it: the capacity.
type CapacityStep struct {
	Step        int `json:"step"`
	Bots        int `json:"bots"`
	Rooms       int `json:"rooms"`
	Subscribers int `json:"subscribers"` // per room
	// UpperBots is the smallest load that broke the SLO, so the capacity
	// lies in [bots, upper_bots); 0 when no step broke.
	UpperBots int `json:"upper_bots"`
	// CPUFit is the SFU's CPU against subscribers, fitted over the steps.
	CPUFit *CPUFit `json:"cpu_fit,omitempty"`
}
