// Package loadbot puts load on a Surge SFU and measures what users would see.
//
// A Runner starts bots — Pion peers speaking Surge's signaling, hundreds per
// process — in rooms: publishers send synthetic VP8 simulcast and Opus-sized
// audio stamped with their send time (abs-capture-time); subscribers receive
// every track of their room and feed per-track statistics (loadbot/stats).
// A share of the bots can sit behind a shaped link (rate, delay, loss)
// emulated in loadbot's own network layer. While bots run, the SFU's admin
// /metrics is scraped for its CPU headroom. The result is a report
// (loadbot/report) that the command line prints, writes as JSON or HTML and
// checks against SLOs.
//
// Data enters through the WebSocket (signaling) and the bots' UDP sockets
// (media) and leaves as a report.Report; nothing here reads files, flags or
// environment — cmd/loadbot does that.
package loadbot

import (
	"fmt"
	"time"

	"github.com/surgertc/surge/sfu/auth"
)

// Limits keep a mistyped flag from turning loadbot into a flood.
const (
	MaxBotsPerProcess = 2000
	MaxJoinRate       = 500 // joins per second
)

// SRTP profile sets a bot offers in its DTLS handshake.
const (
	SRTPBrowser = "browser" // SRTP_AES128_CM_HMAC_SHA1_80 only, as Chromium offers
	SRTPGCM     = "gcm"     // SRTP_AEAD_AES_128_GCM only
	SRTPAll     = "all"     // Pion's default list
)

// Layer is one simulcast layer a publisher sends.
type Layer struct {
	RID         string `mapstructure:"rid" json:"rid"`
	Width       int    `mapstructure:"width" json:"width"`
	Height      int    `mapstructure:"height" json:"height"`
	BitrateKbps int    `mapstructure:"bitrate_kbps" json:"bitrate_kbps"`
	FPS         int    `mapstructure:"fps" json:"fps"`
}

// DefaultLayers are the q/h/f layers a browser sends for a 720p camera.
func DefaultLayers() []Layer {
	return []Layer{
		{RID: "q", Width: 320, Height: 180, BitrateKbps: 150, FPS: 15},
		{RID: "h", Width: 640, Height: 360, BitrateKbps: 500, FPS: 30},
		{RID: "f", Width: 1280, Height: 720, BitrateKbps: 1700, FPS: 30},
	}
}

// LinkConfig shapes one bot's network. Zero values mean "not limited".
type LinkConfig struct {
	DownlinkKbps int     `mapstructure:"downlink_kbps" json:"downlink_kbps,omitempty"`
	UplinkKbps   int     `mapstructure:"uplink_kbps" json:"uplink_kbps,omitempty"`
	DelayMs      int     `mapstructure:"delay_ms" json:"delay_ms,omitempty"`
	LossPct      float64 `mapstructure:"loss_pct" json:"loss_pct,omitempty"`
	// QueueMs bounds the link's queue: a packet that would wait longer is
	// dropped, as a router's tail drop does (default 200 ms).
	QueueMs int `mapstructure:"queue_ms" json:"queue_ms,omitempty"`
	// NoNACK turns off NACK on shaped subscribers, so the report shows the
	// link's loss before retransmission.
	NoNACK bool `mapstructure:"no_nack" json:"no_nack,omitempty"`
}

// Shaped reports whether the link differs from an unshaped one.
func (l LinkConfig) Shaped() bool {
	return l.DownlinkKbps > 0 || l.UplinkKbps > 0 || l.DelayMs > 0 || l.LossPct > 0
}

// SLO is what a run must meet. Zero disables a check.
type SLO struct {
	P99LatencyMs   float64 `mapstructure:"p99_latency_ms" json:"p99_latency_ms"`
	LossPct        float64 `mapstructure:"loss_pct" json:"loss_pct"`
	JoinFailurePct float64 `mapstructure:"join_failure_pct" json:"join_failure_pct"`
	FreezesPerMin  float64 `mapstructure:"freezes_per_min" json:"freezes_per_min"`
}

// Config describes one run.
type Config struct {
	URL       string `mapstructure:"url"`
	APIKey    string `mapstructure:"api_key"`
	APISecret string `mapstructure:"api_secret"`
	// Token, when set, is used for every bot instead of minting one (a
	// token names one identity, so this suits a single-bot smoke test).
	Token string `mapstructure:"token"`

	InstanceID       string        `mapstructure:"instance_id"`
	RoomPrefix       string        `mapstructure:"room_prefix"`
	Rooms            int           `mapstructure:"rooms"`
	Publishers       int           `mapstructure:"publishers"`  // per room
	Subscribers      int           `mapstructure:"subscribers"` // per room
	Audio            bool          `mapstructure:"audio"`
	Video            bool          `mapstructure:"video"`
	Simulcast        bool          `mapstructure:"simulcast"`
	Layers           []Layer       `mapstructure:"layers"`
	KeyframeInterval time.Duration `mapstructure:"keyframe_interval"`

	Duration time.Duration `mapstructure:"duration"`
	// Grace bounds the time after Duration for bots to leave and the report
	// to be built; a run never lasts longer than Duration + Grace.
	Grace    time.Duration `mapstructure:"grace"`
	JoinRate float64       `mapstructure:"join_rate"` // joins per second, all rooms together
	// JoinTimeout is how long a bot may take from dialing to first media.
	JoinTimeout time.Duration `mapstructure:"join_timeout"`

	SRTP string `mapstructure:"srtp"`

	// Reconnect makes a bot whose session ends early (its node died,
	// drained or moved the room) join again with backoff, through URL, until
	// the run ends; the report counts reconnects and media gaps.
	Reconnect bool `mapstructure:"reconnect"`
	// MaxRedirects bounds the redirects one join follows (multi-node SFU).
	MaxRedirects int `mapstructure:"max_redirects"`

	// Link shapes the downlink of ShapedShare of the subscribers (and the
	// uplink too, if set).
	Link        LinkConfig `mapstructure:"link"`
	ShapedShare float64    `mapstructure:"shaped_share"`

	SFUMetricsURL  string        `mapstructure:"sfu_metrics"`
	ScrapeInterval time.Duration `mapstructure:"scrape_interval"`

	SLO SLO `mapstructure:"slo"`

	// ProgressInterval is how often the live line and the timeline update.
	ProgressInterval time.Duration `mapstructure:"progress_interval"`
}

// DefaultConfig is one room with one publisher and four subscribers against
// a local `surge serve`, with the dev key.
func DefaultConfig() Config {
	return Config{
		URL:              "ws://127.0.0.1:7880/rtc",
		APIKey:           auth.DevAPIKey,
		APISecret:        auth.DevAPISecret,
		RoomPrefix:       "load",
		Rooms:            1,
		Publishers:       1,
		Subscribers:      4,
		Audio:            true,
		Video:            true,
		Simulcast:        true,
		Layers:           DefaultLayers(),
		KeyframeInterval: 3 * time.Second,
		Duration:         30 * time.Second,
		Grace:            10 * time.Second,
		JoinRate:         20,
		JoinTimeout:      15 * time.Second,
		SRTP:             SRTPBrowser,
		Reconnect:        true,
		MaxRedirects:     3,
		SFUMetricsURL:    "http://127.0.0.1:7881/metrics",
		ScrapeInterval:   time.Second,
		ProgressInterval: time.Second,
		SLO: SLO{
			P99LatencyMs:   150,
			LossPct:        2,
			JoinFailurePct: 1,
			FreezesPerMin:  1,
		},
	}
}

// Bots is the number of bots the run starts.
func (c *Config) Bots() int { return c.Rooms * (c.Publishers + c.Subscribers) }

// Validate rejects runs that cannot work or would not be bounded.
func (c *Config) Validate() error {
	switch {
	case c.URL == "":
		return fmt.Errorf("%w: url is empty", ErrConfig)
	case c.Token == "" && (c.APIKey == "" || c.APISecret == ""):
		return fmt.Errorf("%w: give api_key and api_secret, or a token", ErrConfig)
	case c.Rooms < 1:
		return fmt.Errorf("%w: rooms must be at least 1", ErrConfig)
	case c.Publishers < 0 || c.Subscribers < 0 || c.Publishers+c.Subscribers == 0:
		return fmt.Errorf("%w: a room needs at least one publisher or subscriber", ErrConfig)
	case c.Bots() > MaxBotsPerProcess:
		return fmt.Errorf("%w: %d bots exceed the %d a process may run; start several loadbot processes with distinct --instance-id", ErrConfig, c.Bots(), MaxBotsPerProcess)
	case c.JoinRate <= 0 || c.JoinRate > MaxJoinRate:
		return fmt.Errorf("%w: join_rate must be in (0, %d]", ErrConfig, MaxJoinRate)
	case c.Duration <= 0 || c.Grace <= 0 || c.JoinTimeout <= 0:
		return fmt.Errorf("%w: duration, grace and join_timeout must be positive", ErrConfig)
	case c.Publishers > 0 && !c.Audio && !c.Video:
		return fmt.Errorf("%w: publishers need audio or video", ErrConfig)
	case c.ShapedShare < 0 || c.ShapedShare > 1:
		return fmt.Errorf("%w: shaped_share must be in [0, 1]", ErrConfig)
	case c.Link.LossPct < 0 || c.Link.LossPct >= 100:
		return fmt.Errorf("%w: loss_pct must be in [0, 100)", ErrConfig)
	case c.MaxRedirects < 0 || c.MaxRedirects > 10:
		return fmt.Errorf("%w: max_redirects must be in [0, 10]", ErrConfig)
	}
	switch c.SRTP {
	case SRTPBrowser, SRTPGCM, SRTPAll, "":
	default:
		return fmt.Errorf("%w: srtp must be browser, gcm or all", ErrConfig)
	}
	if c.Video {
		if len(c.Layers) == 0 {
			return fmt.Errorf("%w: video needs at least one layer", ErrConfig)
		}
		for _, l := range c.Layers {
			if l.RID == "" || l.Width <= 0 || l.Height <= 0 || l.BitrateKbps <= 0 || l.FPS <= 0 || l.FPS > 120 {
				return fmt.Errorf("%w: layer %+v needs rid, width, height, bitrate_kbps and fps in (0, 120]", ErrConfig, l)
			}
		}
	}
	return nil
}
