package sfu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"sync"
	"time"

	"github.com/pion/webrtc/v3"
)

// certRenew is how old the node's DTLS certificate may get before the next
// PeerConnection gets a fresh one. Pion's certificates are valid for a
// month; renewing daily keeps every PeerConnection far from that expiry,
// since a PeerConnection keeps its certificate for as long as it lives.
const certRenew = 24 * time.Hour

// dtlsCerts hands every PeerConnection of the node the same DTLS
// certificate. Left to itself Pion makes a key pair and a self-signed
// certificate per PeerConnection: in a crowd that is most of a join's CPU,
// and the fingerprint proves nothing more for being unique — the peer
// checks it against the SDP it got over the authenticated signaling.
type dtlsCerts struct {
	now func() time.Time

	mu   sync.Mutex
	cert webrtc.Certificate
	made time.Time
}

func newDTLSCerts(now func() time.Time) *dtlsCerts { return &dtlsCerts{now: now} }

// current returns the certificate to use now, making one when there is none
// or the one held is older than certRenew.
func (c *dtlsCerts) current() ([]webrtc.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.made.IsZero() || now.Sub(c.made) >= certRenew {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return nil, err
		}
		c.cert, c.made = *cert, now
	}
	return []webrtc.Certificate{c.cert}, nil
}

// pcConfig is the Configuration for a new PeerConnection of the node.
func (c *dtlsCerts) pcConfig() (webrtc.Configuration, error) {
	certs, err := c.current()
	if err != nil {
		return webrtc.Configuration{}, err
	}
	return webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan, Certificates: certs}, nil
}
