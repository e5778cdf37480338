package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/surgertc/surge/loadbot"
)

// flagKey maps each scenario flag to its key in the YAML file and the
// LOADBOT_* environment (dots become underscores).
var flagKey = map[string]string{
	"url": "url", "api-key": "api_key", "api-secret": "api_secret", "token": "token",
	"instance-id": "instance_id", "room-prefix": "room_prefix",
	"rooms": "rooms", "publishers": "publishers", "subscribers": "subscribers",
	"audio": "audio", "video": "video", "simulcast": "simulcast",
	"keyframe-interval": "keyframe_interval",
	"duration":          "duration", "grace": "grace", "join-rate": "join_rate", "join-timeout": "join_timeout",
	"srtp": "srtp", "sfu-metrics": "sfu_metrics", "scrape-interval": "scrape_interval",
	"ice-transport": "ice_transport", "turn-ca": "turn_ca",
	"reconnect": "reconnect", "max-redirects": "max_redirects",
	"downlink-kbps": "link.downlink_kbps", "uplink-kbps": "link.uplink_kbps",
	"delay-ms": "link.delay_ms", "loss-pct": "link.loss_pct", "no-nack": "link.no_nack",
	"shaped-share":  "shaped_share",
	"publisher-bwe": "publisher_bwe", "publisher-uplink-kbps": "publisher_link.uplink_kbps",
	"cap-share": "cap.share", "cap-layer": "cap.layer", "cap-after": "cap.after", "cap-for": "cap.for",
	"slo-p99-latency-ms": "slo.p99_latency_ms", "slo-loss-pct": "slo.loss_pct",
	"slo-join-failure-pct": "slo.join_failure_pct", "slo-freezes-per-min": "slo.freezes_per_min",
	"slo-jitter-ms": "slo.jitter_ms", "slo-p99-join-ms": "slo.p99_join_ms",
	"slo-p99-first-frame-ms": "slo.p99_time_to_first_frame_ms", "slo-min-sfu-headroom-pct": "slo.sfu_cpu_headroom_pct",
}

// addSLOFlags declares the SLO limits beyond the four every scenario has
// (monitor shares them all).
func addSLOFlags(fs *pflag.FlagSet, d loadbot.SLO) {
	fs.Float64("slo-jitter-ms", d.JitterMs, "SLO: max mean jitter (0: unchecked)")
	fs.Float64("slo-p99-join-ms", d.P99JoinMs, "SLO: max p99 join time, dial to ICE connected (0: unchecked)")
	fs.Float64("slo-p99-first-frame-ms", d.P99FirstFrameMs, "SLO: max p99 time from join to first video frame (0: unchecked)")
	fs.Float64("slo-min-sfu-headroom-pct", d.MinSFUHeadroomPct, "SLO: min SFU CPU headroom in the busiest interval, when scraped (0: unchecked)")
}

// addScenarioFlags declares the flags of run and ramp, defaults from
// loadbot.DefaultConfig so that --help tells the truth.
func addScenarioFlags(fs *pflag.FlagSet) {
	d := loadbot.DefaultConfig()
	fs.String("config", "", "YAML scenario file, e.g. configs/loadbot.yaml; flags override it")
	fs.String("url", d.URL, "SFU signaling WebSocket URL")
	fs.String("api-key", "", "API key to mint tokens with (default: the SFU's built-in dev key)")
	fs.String("api-secret", "", "secret of --api-key")
	fs.String("token", "", "use this token for every bot instead of minting (one identity: single-bot tests)")
	fs.String("instance-id", "", "prefix of bot identities, distinct per loadbot process (default: random)")
	fs.String("room-prefix", d.RoomPrefix, "rooms are named <prefix>-<n>")
	fs.Int("rooms", d.Rooms, "rooms")
	fs.Int("publishers", d.Publishers, "publishers per room")
	fs.Int("subscribers", d.Subscribers, "subscribers per room")
	fs.Bool("audio", d.Audio, "publishers send audio")
	fs.Bool("video", d.Video, "publishers send video")
	fs.Bool("simulcast", d.Simulcast, "publishers send three simulcast layers (q/h/f)")
	fs.Duration("keyframe-interval", d.KeyframeInterval, "periodic keyframe interval (keyframes on PLI come anyway)")
	fs.Duration("duration", d.Duration, "how long the load is held")
	fs.Duration("grace", d.Grace, "extra time allowed to stop bots and report")
	fs.Float64("join-rate", d.JoinRate, "bot joins per second")
	fs.Duration("join-timeout", d.JoinTimeout, "max time from dial to first media per bot")
	fs.String("srtp", d.SRTP, "SRTP profiles offered: browser (as Chromium: AES-CM-HMAC-SHA1-80, AEAD-AES-256-GCM, AEAD-AES-128-GCM), gcm, all")
	fs.String("ice-transport", d.ICETransport, "force every bot onto one path: udp, tcp (ICE-TCP), relay-udp, relay-tcp, relay-tls (TURN from joined.ice_servers)")
	fs.String("turn-ca", "", "relay-tls: PEM file of CAs for the TURN server's certificate (default: system roots)")
	fs.String("sfu-metrics", d.SFUMetricsURL, "SFU admin /metrics URL to scrape for CPU headroom (empty: off)")
	fs.Duration("scrape-interval", d.ScrapeInterval, "how often the SFU's /metrics is scraped (each scrape costs the SFU allocations)")
	fs.Bool("reconnect", d.Reconnect, "bots whose session ends early (node lost, drained, room moved) join again with backoff")
	fs.Int("max-redirects", d.MaxRedirects, "redirects one join may follow (multi-node SFU)")
	fs.Int("downlink-kbps", 0, "shaped bots' downlink rate limit")
	fs.Int("uplink-kbps", 0, "shaped bots' uplink rate limit")
	fs.Int("delay-ms", 0, "shaped bots' one-way delay added on receive")
	fs.Float64("loss-pct", 0, "shaped bots' random downlink loss")
	fs.Bool("no-nack", false, "shaped bots send no NACKs: measure loss before retransmission")
	fs.Float64("shaped-share", 0, "share (0..1) of subscribers on the shaped link")
	fs.Bool("publisher-bwe", d.PublisherBWE, "publishers estimate their uplink (GCC on TWCC feedback) and stop layers it cannot carry, as Chromium")
	fs.Int("publisher-uplink-kbps", 0, "publishers' uplink rate limit")
	fs.Float64("cap-share", 0, "share (0..1) of subscribers that cap their video with subscription messages")
	fs.String("cap-layer", "q", "max_layer capped subscribers ask for: q, h or f")
	fs.Duration("cap-after", 0, "capped subscribers send the cap this long after their first video packet")
	fs.Duration("cap-for", 0, "then lift it after this long (0: keep it)")
	fs.Float64("slo-p99-latency-ms", d.SLO.P99LatencyMs, "SLO: max p99 one-way latency (0: unchecked)")
	fs.Float64("slo-loss-pct", d.SLO.LossPct, "SLO: max loss after retransmission")
	fs.Float64("slo-join-failure-pct", d.SLO.JoinFailurePct, "SLO: max failed joins")
	fs.Float64("slo-freezes-per-min", d.SLO.FreezesPerMin, "SLO: max video freezes per minute")
	addSLOFlags(fs, d.SLO)
	fs.String("json", "", "write the JSON report to this file (- for stdout)")
	fs.String("html", "", "write the HTML report to this file")
	fs.String("metrics-addr", "", "serve loadbot's Prometheus metrics and /debug/pprof/ on this address, e.g. 127.0.0.1:9100")
	fs.BoolP("verbose", "v", false, "log every join failure")
}

// loadConfig resolves defaults < file < LOADBOT_* env < flags.
func loadConfig(fs *pflag.FlagSet) (loadbot.Config, error) {
	cfg := loadbot.DefaultConfig()
	v := viper.New()
	v.SetEnvPrefix("LOADBOT")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for flag, key := range flagKey {
		f := fs.Lookup(flag)
		if f == nil {
			continue
		}
		if err := v.BindPFlag(key, f); err != nil {
			return cfg, err
		}
	}
	if path, _ := fs.GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return cfg, fmt.Errorf("%w: %v", loadbot.ErrConfig, err)
		}
	}
	// Exact: a misspelt key in the file is an error naming it, not a
	// default silently kept (as surge does).
	if err := v.UnmarshalExact(&cfg); err != nil {
		return cfg, fmt.Errorf("%w: %s", loadbot.ErrConfig, decodeError(err))
	}
	// No key given anywhere: the SFU's dev key, which only a loopback SFU
	// accepts.
	if cfg.APIKey == "" && cfg.APISecret == "" {
		d := loadbot.DefaultConfig()
		cfg.APIKey, cfg.APISecret = d.APIKey, d.APISecret
	}
	return cfg, nil
}

// decodeError turns mapstructure's multi-line report into one line, e.g.
// "unknown key(s) in the scenario: rooms2, slo.p99_latency".
func decodeError(err error) string {
	msg := err.Error()
	var unknown, other []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		switch {
		case line == "" || strings.Contains(line, "error(s) decoding") || strings.HasPrefix(line, "decoding failed"):
		case strings.Contains(line, "has invalid keys: "):
			parent := strings.Trim(line[:strings.Index(line, " has invalid keys")], "'")
			for _, k := range strings.Split(line[strings.Index(line, "invalid keys: ")+len("invalid keys: "):], ", ") {
				if parent != "" {
					k = parent + "." + k
				}
				unknown = append(unknown, k)
			}
		default:
			other = append(other, line)
		}
	}
	if len(unknown) > 0 {
		other = append([]string{"unknown key(s) in the scenario: " + strings.Join(unknown, ", ")}, other...)
	}
	if len(other) == 0 {
		return msg
	}
	return strings.Join(other, "; ")
}
