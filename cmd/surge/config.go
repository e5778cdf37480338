package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/surgertc/surge/sfu"
)

// envPrefix makes rtc.udp_addr readable from SURGE_RTC_UDP_ADDR.
const envPrefix = "SURGE"

// fileConfig is what configs/sfu.yaml, SURGE_* and the serve flags fill: the
// server's own Config plus the settings that only the command uses.
type fileConfig struct {
	sfu.Config `mapstructure:",squash"`
	Log        logConfig `mapstructure:"log"`
}

type logConfig struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // text | json
	// PionLevel is the lowest level of Pion's own messages that are logged
	// (trace | debug | info | warn | error); level still applies on top.
	PionLevel string `mapstructure:"pion_level"`
}

func defaultFileConfig() fileConfig {
	return fileConfig{Config: sfu.DefaultConfig(), Log: logConfig{Level: "info", Format: "text", PionLevel: "warn"}}
}

// descriptions is the flag help. A key missing here still gets a flag (the
// flags are generated from the struct), only with a generic description, so
// adding a field to sfu.Config is enough to make it configurable.
var descriptions = map[string]string{
	"listen_addr":                     "public HTTP listener: WebSocket signaling at /rtc",
	"admin_addr":                      "admin listener: /metrics, /healthz, /readyz, /debug/pprof/",
	"keys":                            "API keys as key:secret, comma-separated; empty uses the built-in dev key (loopback only). File or SURGE_KEYS only",
	"admin.token":                     "bearer token the admin listener requires (all but /healthz, /readyz); required when admin_addr is not loopback. File or SURGE_ADMIN_TOKEN only",
	"peer.max_signal_per_second":      "signaling messages per second one client may send (bursts of twice that); more get rate_limited",
	"peer.max_rtcp_per_second":        "RTCP packets per second one PeerConnection may send; more are dropped",
	"peer.max_bytes_per_second":       "bytes per second one PeerConnection may send, media included; more are dropped",
	"peer.max_unknown_ssrcs":          "SRTP streams a PeerConnection may open at a time that its SDP did not declare and the SFU has not read yet",
	"peer.unknown_ssrc_timeout":       "how long such a stream may stay unread before its SSRC is rejected",
	"forward.rtx_share":               "retransmitted bytes per subscriber track, as a fraction of the media bytes it is sent",
	"rtc.udp_addr":                    "the one UDP address all media uses (ICE UDP mux)",
	"rtc.tcp_addr":                    "passive ICE-TCP listener (one TCP port) for clients that cannot use UDP; empty: off",
	"rtc.nat_1to1_ips":                "public IPs advertised as host candidates behind a 1:1 NAT, comma-separated",
	"rtc.ice_servers":                 `STUN/TURN servers handed to clients, as JSON: [{"urls":["stun:host:3478"]}]`,
	"rtc.h264":                        "offer H.264 (constrained baseline) beside VP8",
	"room.max_participants":           "participants per room; later joins get room_full",
	"room.max_tracks_per_participant": "tracks one participant may publish; more get too_many_tracks",
	"room.empty_timeout":              "how long an empty room lingers before it is closed",
	"signal.max_message_bytes":        "size limit of one signaling message",
	"signal.ping_interval":            "how often the server pings each client",
	"signal.ping_timeout":             "read deadline: a client silent this long is disconnected",
	"signal.join_timeout":             "how long a new socket may wait before sending join",
	"forward.packet_cache_size":       "packets kept per upstream track layer to answer NACKs",
	"forward.pli_throttle":            "minimum interval between keyframe requests upstream per track layer",
	"forward.nack_max_age":            "NACKed packets older than this are not resent",
	"forward.fanout_threshold":        "subscribers of one track from which its fan-out is split over worker goroutines",
	"forward.fanout_workers":          "worker goroutines per track read loop for large fan-outs; -1 = GOMAXPROCS-1 (0, serial, on one core)",
	"drain_timeout":                   "graceful shutdown bound: sessions still open after it are closed",
	"bwe.initial_bitrate":             "bps every subscriber's bandwidth estimate starts at",
	"bwe.min_bitrate":                 "floor of a subscriber's bandwidth estimate (bps)",
	"bwe.max_bitrate":                 "ceiling of a subscriber's bandwidth estimate (bps)",
	"bwe.interval":                    "how often each subscriber's layers are re-allocated",
	"bwe.event_interval":              "minimum interval between bandwidth events sent to a client",
	"bwe.probe_interval":              "wait after a probe that found the link short; doubles each time",
	"bwe.probe_max_interval":          "longest wait between probes of a link held below what it could use",
	"simulcast.up_hold":               "how long the budget must cover a higher layer before stepping up",
	"simulcast.up_headroom":           "budget/bitrate factor needed to step up to a layer",
	"simulcast.down_headroom":         "budget/bitrate factor below which the current layer is left at once",
	"simulcast.pause_headroom":        "budget/bitrate factor of the lowest layer below which video pauses",
	"simulcast.high_loss":             "loss fraction that steps a subscriber down one layer",
	"simulcast.up_max_loss":           "loss fraction above which no step up is considered",
	"simulcast.loss_hold":             "minimum time between two loss-driven step-downs",
	"simulcast.keyframe_retry":        "re-request the keyframe a layer switch waits for after this long",
	"simulcast.keyframe_throttle":     "minimum interval between keyframe requests from one subscription",
	"simulcast.proven_up_hold":        "up_hold while the estimate rests on a probe's measurement",
	"simulcast.audio_reserve":         "bps reserved per audio track before video is allocated",
	"turn.enabled":                    "start the embedded TURN server",
	"turn.udp_addr":                   "embedded TURN UDP listener; empty: none",
	"turn.tcp_addr":                   "embedded TURN TCP listener; empty: none",
	"turn.tls_addr":                   "embedded TURN TLS listener, used when turn.cert_file and turn.key_file are set",
	"turn.cert_file":                  "PEM certificate (chain) for TURN over TLS",
	"turn.key_file":                   "PEM private key for TURN over TLS",
	"turn.public_host":                "host name or IP in the turn:/turns: URLs given to clients; empty: each listener's IP",
	"turn.realm":                      "TURN realm",
	"turn.secret":                     "secret signing the embedded server's TURN REST credentials; empty: random per process",
	"turn.credential_ttl":             "how long a join's TURN credentials stay valid; must outlast the longest call",
	"turn.relay_ip":                   "IPv4 address relay sockets bind",
	"turn.relay_public_ip":            "relay address advertised to clients behind a 1:1 NAT; empty: turn.relay_ip",
	"turn.relay_port_min":             "lowest relay port (0 with relay_port_max 0: ephemeral ports)",
	"turn.relay_port_max":             "highest relay port",
	"turn.user_quota":                 "allocations one identity may hold at once; more get 486",
	"turn.max_allocation_lifetime":    "cap on the lifetime a client may ask for (1m..1h)",
	"turn.allowed_peers":              "peers relayed to inside the denied ranges: CIDRs or ip:port, comma-separated",
	"turn.denied_peers":               "CIDRs refused as peers in addition to the built-in denylist, comma-separated",
	"turn.external":                   `external TURN servers (coturn use-auth-secret) to mint per-join credentials for, as JSON: [{"urls":["turn:turn.example.com:3478"],"secret":"..."}]`,
	"redis.addr":                      "Redis host:port shared by the nodes of a cluster; empty runs a single node",
	"redis.username":                  "Redis ACL user (empty: the default user)",
	"redis.password":                  "Redis password",
	"redis.db":                        "Redis database number",
	"redis.tls":                       "connect to Redis with TLS",
	"redis.tls_ca_file":               "PEM CA bundle that verifies Redis's TLS certificate (default: system roots)",
	"redis.key_prefix":                "prefix of every Redis key Surge writes",
	"node.id":                         "this node's id in the cluster (default: generated)",
	"node.signal_url":                 "signaling URL other nodes redirect clients to for rooms held here (default: the bound listen_addr)",
	"node.region":                     "region label; clients naming a region are placed there while it has headroom",
	"node.region_headroom":            "CPU headroom (0..1) a node in the client's region needs to be preferred",
	"node.heartbeat_interval":         "how often the node writes its load and refreshes its room claims",
	"node.ttl":                        "how long a node's entry and claims live without a heartbeat",
	"log.level":                       "log level: trace, debug, info, warn or error (trace shows what log.pion_level trace passes on)",
	"log.format":                      "log format: text or json",
	"log.pion_level":                  "lowest level of Pion's own logs (ICE, DTLS, SRTP) to pass on: trace, debug, info, warn or error",
	"tls.cert_file":                   "PEM certificate chain for the public listener (wss/https); empty serves plain HTTP",
	"tls.key_file":                    "PEM private key of tls.cert_file",
	"tls.reload_interval":             "how often the TLS files are checked for changes (SIGHUP reloads at once)",
	"trusted_proxies":                 "IPs or CIDRs of reverse proxies whose X-Forwarded-For / X-Real-IP name the client, comma-separated",
	"webhook.urls":                    "URLs that receive room events as signed POSTs, comma-separated; empty disables webhooks",
	"webhook.api_key":                 "API key whose secret signs webhooks (default: the only configured key)",
	"webhook.queue_size":              "events waiting per webhook URL; beyond it events are dropped and counted",
	"webhook.timeout":                 "time limit of one webhook attempt",
	"webhook.max_attempts":            "tries per webhook delivery, the first included",
	"webhook.backoff":                 "wait after a failed webhook attempt; doubles per failure up to 30s",
}

var durationType = reflect.TypeOf(time.Duration(0))

// secretKeys are read only from the config file and the environment. A
// command line is readable by every local user (ps, /proc) and was served
// by the admin listener's /debug/pprof/cmdline; their flags exist only to
// refuse them with a message that says where the value belongs.
var secretKeys = map[string]bool{"keys": true, "admin.token": true}

// refuseSecretFlags returns an error if a secret key was set as a flag.
func refuseSecretFlags(fs *pflag.FlagSet) error {
	for k := range secretKeys {
		if fl := fs.Lookup(k); fl != nil && fl.Changed {
			env := envPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))
			return fmt.Errorf("--%s is not accepted on the command line, where any local user (and pprof's cmdline) can read it: set %s or %s in the --config file", k, env, k)
		}
	}
	return nil
}

// configField is one leaf of the configuration: a key such as rtc.udp_addr,
// the Go type it decodes into and its default.
type configField struct {
	Key     string
	Type    reflect.Type
	Default reflect.Value
}

// configFields walks v (a struct) by its mapstructure tags, the same way
// viper's decoder does, so that the keys, env names and flags can never
// drift from the structs in sfu and simulcast.
func configFields(v reflect.Value) []configField {
	var out []configField
	walkConfig(v, "", &out)
	return out
}

func walkConfig(v reflect.Value, prefix string, out *[]configField) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			if name == "" && (sf.Anonymous || strings.Contains(opts, "squash")) {
				walkConfig(fv, prefix, out)
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			walkConfig(fv, prefix+name+".", out)
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		*out = append(*out, configField{Key: prefix + name, Type: sf.Type, Default: fv})
	}
}

// addConfigFlags registers one flag per configuration key, named after the
// key itself (--rtc.udp_addr) so that the file, env and flag spellings are
// mechanically related, with the built-in default shown in --help.
func addConfigFlags(fs *pflag.FlagSet, fields []configField) {
	for _, f := range fields {
		if secretKeys[f.Key] {
			fs.String(f.Key, "", "refused: give it in the config file or the environment")
			_ = fs.MarkHidden(f.Key)
			continue
		}
		desc, ok := descriptions[f.Key]
		if !ok {
			desc = "see configs/sfu.yaml"
		}
		d := f.Default
		switch {
		case f.Type == durationType:
			fs.Duration(f.Key, time.Duration(d.Int()), desc)
		case f.Type.Kind() == reflect.String:
			fs.String(f.Key, d.String(), desc)
		case f.Type.Kind() == reflect.Bool:
			fs.Bool(f.Key, d.Bool(), desc)
		case f.Type.Kind() == reflect.Int:
			fs.Int(f.Key, int(d.Int()), desc)
		case isInt(f.Type.Kind()):
			fs.Int64(f.Key, d.Int(), desc)
		case isUint(f.Type.Kind()):
			fs.Uint64(f.Key, d.Uint(), desc)
		case f.Type.Kind() == reflect.Float32 || f.Type.Kind() == reflect.Float64:
			fs.Float64(f.Key, d.Float(), desc)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			fs.StringSlice(f.Key, append([]string(nil), d.Interface().([]string)...), desc)
		case f.Type == reflect.TypeOf(map[string]string(nil)):
			fs.StringSlice(f.Key, mapToPairs(d.Interface().(map[string]string)), desc)
		default:
			// Lists of structs and the like: JSON is the one notation that
			// fits in a flag or an env variable without a new mini-language.
			fs.String(f.Key, jsonDefault(d), desc)
		}
	}
}

// viperDefault keeps maps from being flattened into sub-keys: viper would
// otherwise see keys.devkey rather than one keys value.
func viperDefault(v reflect.Value) any {
	if v.Kind() == reflect.Map {
		if m, ok := v.Interface().(map[string]string); ok && len(m) > 0 {
			return mapToPairs(m)
		}
		return nil
	}
	return v.Interface()
}

func isInt(k reflect.Kind) bool {
	return k == reflect.Int8 || k == reflect.Int16 || k == reflect.Int32 || k == reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k == reflect.Uint || k == reflect.Uint8 || k == reflect.Uint16 || k == reflect.Uint32 || k == reflect.Uint64
}

func jsonDefault(v reflect.Value) string {
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		return ""
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return ""
	}
	return string(b)
}

func mapToPairs(m map[string]string) []string {
	pairs := make([]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, k+":"+v)
	}
	sort.Strings(pairs)
	return pairs
}

// loadConfig resolves the configuration: built-in defaults < the file named
// by path (none if empty) < SURGE_* environment < flags in fs that were set
// on the command line. fs may be nil (surge token has no config flags).
func loadConfig(path string, fs *pflag.FlagSet) (fileConfig, error) {
	cfg := defaultFileConfig()
	fields := configFields(reflect.ValueOf(cfg))

	v := viper.New()
	for _, f := range fields {
		// Every key must be known to viper up front: AutomaticEnv only
		// consults the environment for keys it has seen somewhere.
		v.SetDefault(f.Key, viperDefault(f.Default))
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return cfg, fmt.Errorf("reading config %s: %w", path, err)
		}
		if _, isMap := v.Get("keys").(map[string]any); isMap {
			// Viper lowercases map keys, and API keys are case-sensitive
			// JWT issuers: a mapping would silently break mixed-case keys.
			return cfg, fmt.Errorf("config %s: write keys as a list of \"key:secret\" strings, not a mapping (viper would lowercase the API keys)", path)
		}
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if fs != nil {
		if err := refuseSecretFlags(fs); err != nil {
			return cfg, err
		}
		for _, f := range fields {
			if fl := fs.Lookup(f.Key); fl != nil && !secretKeys[f.Key] {
				if err := v.BindPFlag(f.Key, fl); err != nil {
					return cfg, err
				}
			}
		}
	}
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook)); err != nil {
		if path == "" {
			return cfg, fmt.Errorf("configuration: %w", err)
		}
		return cfg, fmt.Errorf("config %s (or SURGE_* / flags): %w", path, err)
	}
	return cfg, nil
}

// decodeHook turns the strings that env variables and generic flags carry
// into the configuration's types; YAML values mostly arrive typed already.
// It replaces viper's default hooks, so it covers durations and lists too.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case to == durationType && from.Kind() == reflect.String:
		return time.ParseDuration(strings.TrimSpace(data.(string)))
	case to == reflect.TypeOf(map[string]string(nil)):
		return decodeKeyPairs(data)
	case to.Kind() == reflect.Slice && to.Elem().Kind() == reflect.String && from.Kind() == reflect.String:
		return splitList(data.(string)), nil
	case from.Kind() == reflect.String && (to.Kind() == reflect.Slice || to.Kind() == reflect.Map || to.Kind() == reflect.Struct):
		s := strings.TrimSpace(data.(string))
		if s == "" {
			return reflect.Zero(to).Interface(), nil
		}
		ptr := reflect.New(to)
		if err := json.Unmarshal([]byte(s), ptr.Interface()); err != nil {
			return nil, fmt.Errorf("want JSON for %s: %w", to, err)
		}
		return ptr.Elem().Interface(), nil
	}
	return data, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// decodeKeyPairs accepts "k1:s1,k2:s2" (env), ["k1:s1"] (flag, YAML list).
func decodeKeyPairs(data any) (any, error) {
	var pairs []string
	switch d := data.(type) {
	case nil:
		return map[string]string(nil), nil
	case string:
		pairs = splitList(d)
	case []string:
		pairs = d
	case []any:
		for _, e := range d {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New(`keys: want "key:secret" strings`)
			}
			pairs = append(pairs, s)
		}
	default:
		return data, nil
	}
	if len(pairs) == 0 {
		return map[string]string(nil), nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, s, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok || k == "" || s == "" {
			return nil, fmt.Errorf(`keys: %q is not "key:secret"`, redact(p))
		}
		m[k] = s
	}
	return m, nil
}

// redact keeps secrets out of error messages and logs.
func redact(pair string) string {
	k, _, ok := strings.Cut(pair, ":")
	if !ok {
		return strconv.Itoa(len(pair)) + " characters without a colon"
	}
	return k + ":…"
}
