package turn

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Config is the embedded TURN server and the TURN REST credentials the SFU
// mints for each join (for the embedded server and for external ones). The
// mapstructure tags are the configuration keys under turn.
type Config struct {
	// Enabled starts the embedded TURN server. Credentials for External
	// servers are minted whether or not it is enabled.
	Enabled bool `mapstructure:"enabled"`
	// UDPAddr, TCPAddr and TLSAddr are the TURN listeners; an empty one is
	// not started. TLS needs CertFile and KeyFile as well.
	UDPAddr  string `mapstructure:"udp_addr"`
	TCPAddr  string `mapstructure:"tcp_addr"`
	TLSAddr  string `mapstructure:"tls_addr"`
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// PublicHost is the host name or IP put in the turn: and turns: URLs
	// handed to clients; empty uses each listener's IP. With TLS it must be
	// the name the certificate is for.
	PublicHost string `mapstructure:"public_host"`
	Realm      string `mapstructure:"realm"`
	// Secret signs the TURN REST credentials of the embedded server. Empty
	// means a random secret per process.
	Secret string `mapstructure:"secret"`
	// CredentialTTL is how long a join's TURN credentials stay valid. A
	// TURN server refuses refreshes with an expired credential, so it must
	// outlast the longest call.
	CredentialTTL time.Duration `mapstructure:"credential_ttl"`

	// RelayIP is the address relay sockets bind; RelayPublicIP, if set, is
	// the one advertised to clients (behind a 1:1 NAT).
	RelayIP       string `mapstructure:"relay_ip"`
	RelayPublicIP string `mapstructure:"relay_public_ip"`
	// RelayPortMin..RelayPortMax is the relay port range; 0 and 0 let the
	// operating system choose ephemeral ports.
	RelayPortMin int `mapstructure:"relay_port_min"`
	RelayPortMax int `mapstructure:"relay_port_max"`
	// UserQuota is the number of allocations one identity may hold at once.
	UserQuota int `mapstructure:"user_quota"`
	// MaxAllocationLifetime caps the lifetime a client may ask for: an
	// allocation whose client vanished without deleting it is freed at
	// most this long after its last refresh.
	MaxAllocationLifetime time.Duration `mapstructure:"max_allocation_lifetime"`
	// AllowedPeers are peers relayed to even inside the denied ranges:
	// CIDRs (10.1.0.0/16) or exact ip:port. The SFU's own media addresses
	// are always allowed.
	AllowedPeers []string `mapstructure:"allowed_peers"`
	// DeniedPeers are CIDRs refused in addition to DefaultDeniedPeers.
	DeniedPeers []string `mapstructure:"denied_peers"`

	// External are TURN servers of the operator's (coturn with
	// use-auth-secret / static-auth-secret): each join gets credentials for
	// them minted with their Secret.
	External []External `mapstructure:"external"`
}

// External is a TURN server using the TURN REST credential scheme.
type External struct {
	URLs   []string `mapstructure:"urls" json:"urls"`
	Secret string   `mapstructure:"secret" json:"secret"`
}

// DefaultConfig is a disabled server whose listeners, once enabled, sit on
// loopback like every other Surge listener.
func DefaultConfig() Config {
	return Config{
		UDPAddr:               "127.0.0.1:3478",
		TCPAddr:               "127.0.0.1:3478",
		TLSAddr:               "127.0.0.1:5349",
		Realm:                 "surge",
		CredentialTTL:         24 * time.Hour,
		RelayIP:               "127.0.0.1",
		UserQuota:             12,
		MaxAllocationLifetime: 10 * time.Minute,
	}
}

// TLSEnabled reports whether the TLS listener is configured.
func (c *Config) TLSEnabled() bool { return c.TLSAddr != "" && c.CertFile != "" && c.KeyFile != "" }

// Listeners returns the configured listener addresses by key, for checks
// such as "the dev key serves loopback only".
func (c *Config) Listeners() map[string]string {
	out := map[string]string{}
	if !c.Enabled {
		return out
	}
	if c.UDPAddr != "" {
		out["turn.udp_addr"] = c.UDPAddr
	}
	if c.TCPAddr != "" {
		out["turn.tcp_addr"] = c.TCPAddr
	}
	if c.TLSEnabled() {
		out["turn.tls_addr"] = c.TLSAddr
	}
	if c.RelayIP != "" {
		out["turn.relay_ip"] = net.JoinHostPort(c.RelayIP, "0")
	}
	return out
}

// Validate rejects configurations the server must not run with.
func (c *Config) Validate() error {
	if c.CredentialTTL <= 0 {
		return fmt.Errorf("%w: turn.credential_ttl must be positive", ErrConfig)
	}
	for i, e := range c.External {
		if len(e.URLs) == 0 || e.Secret == "" {
			return fmt.Errorf("%w: turn.external[%d] needs urls and secret", ErrConfig, i)
		}
	}
	if !c.Enabled {
		return nil
	}
	if c.UDPAddr == "" && c.TCPAddr == "" && !c.TLSEnabled() {
		return fmt.Errorf("%w: turn.enabled needs at least one of turn.udp_addr, turn.tcp_addr, turn.tls_addr (with cert_file and key_file)", ErrConfig)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("%w: turn.cert_file and turn.key_file go together", ErrConfig)
	}
	relay, err := netip.ParseAddr(c.RelayIP)
	if err != nil || relay.IsUnspecified() || !relay.Is4() {
		return fmt.Errorf("%w: turn.relay_ip %q must be one IPv4 address of this host (relays are UDP over IPv4)", ErrConfig, c.RelayIP)
	}
	if c.RelayPublicIP != "" {
		if _, err := netip.ParseAddr(c.RelayPublicIP); err != nil {
			return fmt.Errorf("%w: turn.relay_public_ip %q is not an IP address", ErrConfig, c.RelayPublicIP)
		}
	}
	if relay.IsLoopback() {
		for key, addr := range map[string]string{"turn.udp_addr": c.UDPAddr, "turn.tcp_addr": c.TCPAddr, "turn.tls_addr": c.TLSAddr} {
			if addr != "" && !isLoopback(addr) && c.RelayPublicIP == "" {
				return fmt.Errorf("%w: %s=%s serves other machines but turn.relay_ip is loopback; set turn.relay_ip to this host's address", ErrConfig, key, addr)
			}
		}
	}
	if (c.RelayPortMin == 0) != (c.RelayPortMax == 0) || c.RelayPortMin < 0 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax || (c.RelayPortMin != 0 && c.RelayPortMin < 1024) {
		return fmt.Errorf("%w: turn.relay_port_min..relay_port_max must be 0..0 or within 1024..65535", ErrConfig)
	}
	if c.UserQuota < 1 {
		return fmt.Errorf("%w: turn.user_quota must be at least 1", ErrConfig)
	}
	if c.MaxAllocationLifetime < time.Minute || c.MaxAllocationLifetime > time.Hour {
		return fmt.Errorf("%w: turn.max_allocation_lifetime must be within 1m..1h", ErrConfig)
	}
	if c.Realm == "" {
		return fmt.Errorf("%w: turn.realm is empty", ErrConfig)
	}
	if _, _, err := parsePeers(c.AllowedPeers, true); err != nil {
		return fmt.Errorf("%w: turn.allowed_peers: %v", ErrConfig, err)
	}
	if _, _, err := parsePeers(c.DeniedPeers, false); err != nil {
		return fmt.Errorf("%w: turn.denied_peers: %v", ErrConfig, err)
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
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
