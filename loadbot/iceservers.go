package loadbot

import (
	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// setICEServers keeps the STUN/TURN servers the SFU handed out in joined,
// so a bot (a monitor probe in particular) reaches the SFU the way a
// browser behind the same network would.
func (b *bot) setICEServers(servers []signal.ICEServer) {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		ws := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ws.Credential, ws.CredentialType = s.Credential, webrtc.ICECredentialTypePassword
		}
		out = append(out, ws)
	}
	b.mu.Lock()
	b.ice = out
	b.mu.Unlock()
}

// rtcConfig is the configuration of the bot's PeerConnections.
func (b *bot) rtcConfig() webrtc.Configuration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return webrtc.Configuration{ICEServers: b.ice}
}
