package sfu

import (
	"fmt"
	"net"
	"time"

	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/bwe"
	"github.com/surgertc/surge/sfu/cluster"
	"github.com/surgertc/surge/sfu/signal"
	"github.com/surgertc/surge/sfu/turn"
	"github.com/surgertc/surge/simulcast"
)

// Config is everything the server needs. cmd/surge fills it from defaults,
// configs/sfu.yaml, SURGE_* environment variables and flags; tests build it
// from DefaultConfig. The mapstructure tags are the configuration keys.
type Config struct {
	// ListenAddr is the public HTTP listener: WebSocket signaling at /rtc.
	ListenAddr string `mapstructure:"listen_addr"`
	// AdminAddr serves /metrics, /healthz, /readyz and /debug/pprof/.
	AdminAddr string `mapstructure:"admin_addr"`
	// Admin secures the admin listener.
	Admin AdminConfig `mapstructure:"admin"`
	// Keys maps API keys to their secrets. Empty means the built-in dev key,
	// which is only allowed while every listener is on loopback.
	Keys map[string]string `mapstructure:"keys"`

	RTC     RTCConfig     `mapstructure:"rtc"`
	Room    RoomConfig    `mapstructure:"room"`
	Signal  SignalConfig  `mapstructure:"signal"`
	Forward ForwardConfig `mapstructure:"forward"`
	// Peer bounds what one participant may cost the node.
	Peer PeerConfig `mapstructure:"peer"`
	// BWE tunes each subscriber's bandwidth estimation.
	BWE BWEConfig `mapstructure:"bwe"`
	// Simulcast tunes layer selection and switching.
	Simulcast simulcast.Config `mapstructure:"simulcast"`
	// TURN is the embedded TURN server and the per-join TURN credentials.
	TURN turn.Config `mapstructure:"turn"`

	// DrainTimeout bounds graceful shutdown: after it the remaining sessions
	// are closed anyway.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`

	// TLS serves the public listener over TLS (tlsreload.go).
	TLS TLSConfig `mapstructure:"tls"`
	// TrustedProxies are the addresses (CIDRs or IPs) of reverse proxies
	// whose X-Forwarded-For names the client (clientaddr.go).
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// Webhook posts room events to HTTP endpoints (webhooks.go).
	Webhook WebhookConfig `mapstructure:"webhook"`
	// Redis, when Redis.Addr is set, makes this node one of a cluster that
	// shares rooms through Redis (package sfu/cluster); Node is its
	// identity there. Without it the node runs alone.
	Redis cluster.RedisConfig `mapstructure:"redis"`
	Node  cluster.NodeConfig  `mapstructure:"node"`
}

// RTCConfig is the media side.
type RTCConfig struct {
	// UDPAddr is the one UDP address all media uses (ICE UDP mux).
	UDPAddr string `mapstructure:"udp_addr"`
	// TCPAddr, if set, is a passive ICE-TCP listener (one port, Pion's TCP
	// mux) advertised beside the UDP mux, for clients that cannot use UDP.
	TCPAddr string `mapstructure:"tcp_addr"`
	// NAT1To1IPs are the public addresses advertised as host candidates when
	// the server sits behind a 1:1 NAT (cloud VMs).
	NAT1To1IPs []string `mapstructure:"nat_1to1_ips"`
	// ICEServers are handed to clients in the joined message (STUN/TURN URLs).
	ICEServers []signal.ICEServer `mapstructure:"ice_servers"`
	// H264 enables H.264 (constrained baseline, packetization-mode 1) beside VP8.
	H264 bool `mapstructure:"h264"`
}

// RoomConfig limits rooms.
type RoomConfig struct {
	MaxParticipants         int `mapstructure:"max_participants"`
	MaxTracksPerParticipant int `mapstructure:"max_tracks_per_participant"`
	// EmptyTimeout is how long an empty room lingers before it is closed.
	EmptyTimeout time.Duration `mapstructure:"empty_timeout"`
}

// SignalConfig governs the WebSocket.
type SignalConfig struct {
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// PingInterval is how often the server pings; PingTimeout is the read
	// deadline: a client silent for that long is disconnected.
	PingInterval time.Duration `mapstructure:"ping_interval"`
	PingTimeout  time.Duration `mapstructure:"ping_timeout"`
	// JoinTimeout is how long a new socket may wait before sending join.
	JoinTimeout time.Duration `mapstructure:"join_timeout"`
}

// ForwardConfig tunes the packet path.
type ForwardConfig struct {
	// PacketCacheSize is the number of packets kept per upstream track (and
	// simulcast layer) to answer NACKs. Shared by all subscribers.
	PacketCacheSize int `mapstructure:"packet_cache_size"`
	// PLIThrottle is the minimum interval between keyframe requests sent
	// upstream for one track layer.
	PLIThrottle time.Duration `mapstructure:"pli_throttle"`
	// NACKMaxAge is the age beyond which a NACKed packet is not resent: a
	// decoder has given up on it, and resending it only feeds the
	// congestion that lost it.
	NACKMaxAge time.Duration `mapstructure:"nack_max_age"`
	// RTXShare caps one subscriber's retransmitted bytes at this fraction
	// of the media bytes it is sent; NACKs beyond it go unanswered.
	RTXShare float64 `mapstructure:"rtx_share"`
	// FanoutThreshold is the number of subscribers of one track from which
	// its packets are written by FanoutWorkers goroutines in parallel
	// rather than by its read loop alone.
	FanoutThreshold int `mapstructure:"fanout_threshold"`
	// FanoutWorkers is how many worker goroutines help each read loop of
	// a track that reaches FanoutThreshold. -1 picks GOMAXPROCS-1 (0 on
	// one core); 0 always fans out serially.
	FanoutWorkers int `mapstructure:"fanout_workers"`
	// UDPGSO sends a subscriber's packets that arrived together as one UDP
	// GSO send (Linux), which the kernel cuts into the same datagrams.
	UDPGSO bool `mapstructure:"udp_gso"`
}

// AdminConfig secures the admin listener.
type AdminConfig struct {
	// Token, if set, is required as "Authorization: Bearer <token>" on
	// every admin endpoint but /healthz and /readyz. Required when
	// admin_addr is not loopback. Give it in the config file or
	// SURGE_ADMIN_TOKEN, never on the command line.
	Token string `mapstructure:"token"`
}

// PeerConfig bounds what one participant may make the node do: a hostile
// peer's cost must land on that peer.
type PeerConfig struct {
	// MaxSignalPerSecond is the sustained rate of signaling messages a
	// client may send (bursts of twice that); more get rate_limited.
	MaxSignalPerSecond int `mapstructure:"max_signal_per_second"`
	// MaxRTCPPerSecond and MaxBytesPerSecond bound the RTCP packets and the
	// bytes (media included) one PeerConnection may send; datagrams over
	// them are dropped before decryption.
	MaxRTCPPerSecond  int `mapstructure:"max_rtcp_per_second"`
	MaxBytesPerSecond int `mapstructure:"max_bytes_per_second"`
	// MaxUnknownSSRCs is how many SRTP streams a PeerConnection may open
	// at a time that its SDP did not declare and the SFU has not yet read
	// (simulcast layers before their first packet is authenticated).
	// UnknownSSRCTimeout is how long one may stay so before it is rejected.
	MaxUnknownSSRCs    int           `mapstructure:"max_unknown_ssrcs"`
	UnknownSSRCTimeout time.Duration `mapstructure:"unknown_ssrc_timeout"`
}

// BWEConfig tunes the per-subscriber bandwidth estimate: Pion's GCC fed by
// the subscriber's transport-wide-cc feedback, or a loss-based estimate from
// receiver reports when the subscriber did not negotiate transport-wide-cc.
type BWEConfig struct {
	// InitialBitrate is where every subscriber's estimate starts (bps): the
	// middle layer fits, so a weak link is not flooded with the top layer
	// (the overshoot's loss would drive GCC's loss controller to its floor),
	// and an unconstrained subscriber climbs to the top within seconds.
	InitialBitrate int `mapstructure:"initial_bitrate"`
	MinBitrate     int `mapstructure:"min_bitrate"`
	MaxBitrate     int `mapstructure:"max_bitrate"`
	// Interval is how often layers are re-allocated and the estimate read.
	Interval time.Duration `mapstructure:"interval"`
	// EventInterval rate-limits the bandwidth event sent to the client.
	EventInterval time.Duration `mapstructure:"event_interval"`
	// ProbeInterval is the wait after a probe that found the link short;
	// it doubles after each such probe up to ProbeMaxInterval.
	ProbeInterval    time.Duration `mapstructure:"probe_interval"`
	ProbeMaxInterval time.Duration `mapstructure:"probe_max_interval"`
}

// estimator is the bwe.Config these settings give.
func (c *BWEConfig) estimator() bwe.Config {
	e := bwe.DefaultConfig()
	e.Initial, e.Min, e.Max = int64(c.InitialBitrate), int64(c.MinBitrate), int64(c.MaxBitrate)
	return e
}

// prober is the bwe.ProbeConfig these settings give.
func (c *BWEConfig) prober() bwe.ProbeConfig {
	p := bwe.DefaultProbeConfig()
	p.Max = int64(c.MaxBitrate)
	p.Interval, p.MaxInterval = c.ProbeInterval, c.ProbeMaxInterval
	p.PaddingSize = paddingSize
	return p
}

// DefaultConfig is a loopback server with the dev key.
func DefaultConfig() Config {
	return Config{
		ListenAddr: "127.0.0.1:7880",
		AdminAddr:  "127.0.0.1:7881",
		RTC: RTCConfig{
			UDPAddr: "127.0.0.1:7882",
		},
		Room: RoomConfig{
			MaxParticipants:         100,
			MaxTracksPerParticipant: 8,
			EmptyTimeout:            10 * time.Second,
		},
		Signal: SignalConfig{
			MaxMessageBytes: signal.MaxMessageBytes,
			PingInterval:    10 * time.Second,
			PingTimeout:     30 * time.Second,
			JoinTimeout:     10 * time.Second,
		},
		Forward: ForwardConfig{
			PacketCacheSize: 1024,
			PLIThrottle:     500 * time.Millisecond,
			NACKMaxAge:      time.Second,
			RTXShare:        0.2,
			FanoutThreshold: 64,
			FanoutWorkers:   -1,
			UDPGSO:          true,
		},
		Peer: PeerConfig{
			MaxSignalPerSecond: 50,
			MaxRTCPPerSecond:   1000,
			MaxBytesPerSecond:  6_250_000, // 50 Mbps: eight tracks of top-layer video with room to spare
			MaxUnknownSSRCs:    12,
			UnknownSSRCTimeout: 3 * time.Second,
		},
		BWE: BWEConfig{
			InitialBitrate:   1_500_000,
			MinBitrate:       100_000,
			MaxBitrate:       20_000_000,
			Interval:         100 * time.Millisecond,
			EventInterval:    time.Second,
			ProbeInterval:    time.Second,
			ProbeMaxInterval: 3 * time.Second,
		},
		Simulcast:    simulcast.DefaultConfig(),
		TURN:         turn.DefaultConfig(),
		DrainTimeout: 30 * time.Second,
		TLS:          DefaultTLSConfig(),
		Webhook:      DefaultWebhookConfig(),
		Redis:        cluster.DefaultRedisConfig(),
		Node:         cluster.DefaultNodeConfig(),
	}
}

// UsesDevKey reports whether no keys are configured.
func (c *Config) UsesDevKey() bool { return len(c.Keys) == 0 }

// keys returns the configured keys, or the dev key.
func (c *Config) keys() map[string]string {
	if c.UsesDevKey() {
		return map[string]string{auth.DevAPIKey: auth.DevAPISecret}
	}
	return c.Keys
}

// Validate rejects configurations the server must not run with.
func (c *Config) Validate() error {
	if c.Room.MaxParticipants < 1 || c.Room.MaxTracksPerParticipant < 1 {
		return fmt.Errorf("%w: room.max_participants and room.max_tracks_per_participant must be at least 1", ErrConfig)
	}
	if c.Signal.MaxMessageBytes < 1024 {
		return fmt.Errorf("%w: signal.max_message_bytes must be at least 1024", ErrConfig)
	}
	if c.Signal.PingInterval <= 0 || c.Signal.PingTimeout <= c.Signal.PingInterval {
		return fmt.Errorf("%w: signal.ping_timeout must exceed signal.ping_interval > 0", ErrConfig)
	}
	if c.Forward.NACKMaxAge <= 0 {
		return fmt.Errorf("%w: forward.nack_max_age must be positive", ErrConfig)
	}
	if c.Forward.RTXShare < 0 || c.Forward.RTXShare > 1 {
		return fmt.Errorf("%w: forward.rtx_share must be between 0 and 1", ErrConfig)
	}
	if p := c.Peer; p.MaxSignalPerSecond < 1 || p.MaxRTCPPerSecond < 1 || p.MaxBytesPerSecond < 10_000 || p.MaxUnknownSSRCs < 1 || p.UnknownSSRCTimeout <= 0 {
		return fmt.Errorf("%w: peer.max_signal_per_second, max_rtcp_per_second and max_unknown_ssrcs must be at least 1, max_bytes_per_second at least 10000, unknown_ssrc_timeout positive", ErrConfig)
	}
	if c.Admin.Token == "" && !isLoopback(c.AdminAddr) {
		return fmt.Errorf("%w: admin_addr=%s is not loopback; set admin.token (SURGE_ADMIN_TOKEN) so that metrics and pprof need it", ErrConfig, c.AdminAddr)
	}
	if c.Forward.FanoutThreshold < 1 || c.Forward.FanoutWorkers < -1 {
		return fmt.Errorf("%w: forward.fanout_threshold must be at least 1, forward.fanout_workers at least -1 (-1: GOMAXPROCS-1)", ErrConfig)
	}
	if c.Forward.PacketCacheSize < 64 {
		return fmt.Errorf("%w: forward.packet_cache_size must be at least 64", ErrConfig)
	}
	if c.BWE.MinBitrate <= 0 || c.BWE.InitialBitrate < c.BWE.MinBitrate || c.BWE.MaxBitrate < c.BWE.InitialBitrate || c.BWE.Interval <= 0 || c.BWE.EventInterval <= 0 {
		return fmt.Errorf("%w: bwe needs 0 < min_bitrate <= initial_bitrate <= max_bitrate and positive intervals", ErrConfig)
	}
	if err := c.Simulcast.Validate(); err != nil {
		return fmt.Errorf("%w: simulcast: %v", ErrConfig, err)
	}
	if c.BWE.ProbeInterval <= 0 || c.BWE.ProbeMaxInterval < c.BWE.ProbeInterval {
		return fmt.Errorf("%w: need 0 < bwe.probe_interval <= bwe.probe_max_interval", ErrConfig)
	}
	if err := c.validateOperator(); err != nil {
		return err
	}
	if err := (cluster.Config{Redis: c.Redis, Node: c.Node}).Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.TURN.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.UsesDevKey() {
		listeners := c.TURN.Listeners()
		listeners["listen_addr"], listeners["admin_addr"], listeners["rtc.udp_addr"] = c.ListenAddr, c.AdminAddr, c.RTC.UDPAddr
		if c.RTC.TCPAddr != "" {
			listeners["rtc.tcp_addr"] = c.RTC.TCPAddr
		}
		for name, addr := range listeners {
			if !isLoopback(addr) {
				return fmt.Errorf("%w: %s=%s is not loopback; the built-in dev key may only serve loopback, configure keys to listen elsewhere", ErrDevKeyExposed, name, addr)
			}
		}
		if len(c.RTC.NAT1To1IPs) > 0 {
			return fmt.Errorf("%w: rtc.nat_1to1_ips is set; configure keys before exposing the server", ErrDevKeyExposed)
		}
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
