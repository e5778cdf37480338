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
	"srtp": "srtp", "sfu-metrics": "sfu_metrics",
	"reconnect": "reconnect", "max-redirects": "max_redirects",
	"downlink-kbps": "link.downlink_kbps", "uplink-kbps": "link.uplink_kbps",
	"delay-ms": "link.delay_ms", "loss-pct": "link.loss_pct", "no-nack": "link.no_nack",
	"shaped-share":       "shaped_share",
	"slo-p99-latency-ms": "slo.p99_latency_ms", "slo-loss-pct": "slo.loss_pct",
	"slo-join-failure-pct": "slo.join_failure_pct", "slo-freezes-per-min": "slo.freezes_per_min",
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
	fs.String("srtp", d.SRTP, "SRTP profiles offered: browser (AES128_CM_HMAC_SHA1_80, as Chromium), gcm, all")
	fs.String("sfu-metrics", d.SFUMetricsURL, "SFU admin /metrics URL to scrape for CPU headroom (empty: off)")
	fs.Bool("reconnect", d.Reconnect, "bots whose session ends early (node lost, drained, room moved) join again with backoff")
	fs.Int("max-redirects", d.MaxRedirects, "redirects one join may follow (multi-node SFU)")
	fs.Int("downlink-kbps", 0, "shaped bots' downlink rate limit")
	fs.Int("uplink-kbps", 0, "shaped bots' uplink rate limit")
	fs.Int("delay-ms", 0, "shaped bots' one-way delay added on receive")
	fs.Float64("loss-pct", 0, "shaped bots' random downlink loss")
	fs.Bool("no-nack", false, "shaped bots send no NACKs: measure loss before retransmission")
	fs.Float64("shaped-share", 0, "share (0..1) of subscribers on the shaped link")
	fs.Float64("slo-p99-latency-ms", d.SLO.P99LatencyMs, "SLO: max p99 one-way latency (0: unchecked)")
	fs.Float64("slo-loss-pct", d.SLO.LossPct, "SLO: max loss after retransmission")
	fs.Float64("slo-join-failure-pct", d.SLO.JoinFailurePct, "SLO: max failed joins")
	fs.Float64("slo-freezes-per-min", d.SLO.FreezesPerMin, "SLO: max video freezes per minute")
	fs.String("json", "", "write the JSON report to this file (- for stdout)")
	fs.String("html", "", "write the HTML report to this file")
	fs.String("metrics-addr", "", "serve loadbot's Prometheus metrics on this address, e.g. 127.0.0.1:9100")
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
	if err := v.Unmarshal(&cfg); err != nil {
		return cfg, fmt.Errorf("%w: %v", loadbot.ErrConfig, err)
	}
	// No key given anywhere: the SFU's dev key, which only a loopback SFU
	// accepts.
	if cfg.APIKey == "" && cfg.APISecret == "" {
		d := loadbot.DefaultConfig()
		cfg.APIKey, cfg.APISecret = d.APIKey, d.APISecret
	}
	return cfg, nil
}
