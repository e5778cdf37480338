package turn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// maxFrame bounds one framed TURN message on a TCP or TLS connection: a
// relayed media packet plus headers fits with room to spare, and a peer
// claiming more is closed rather than buffered (pion's own framing would
// buffer up to 64 KiB per connection).
const maxFrame = 1600

// firstFrameTimeout is how long a new connection may take to complete its
// TLS handshake and send its first message.
const firstFrameTimeout = 10 * time.Second

var errBadFrame = errors.New("not a STUN message or ChannelData")

// frameLen returns the length of the TURN frame that hdr (its first 4
// bytes) starts over a stream (RFC 5766 §11.5: ChannelData is padded to a
// multiple of 4 there), or an error if hdr starts neither kind.
func frameLen(hdr []byte) (int, error) {
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	switch hdr[0] >> 6 {
	case 0: // STUN: 20-byte header, attributes a multiple of 4
		if n%4 != 0 {
			return 0, fmt.Errorf("%w: STUN length %d", errBadFrame, n)
		}
		n += 20
	case 1: // ChannelData
		n = 4 + (n+3)&^3
	default:
		return 0, fmt.Errorf("%w: first byte %#x", errBadFrame, hdr[0])
	}
	if n > maxFrame {
		return 0, fmt.Errorf("%w: %d-byte frame exceeds %d", errBadFrame, n, maxFrame)
	}
	return n, nil
}

// readFrame reads one whole frame into buf (at least maxFrame long).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	n, err := frameLen(buf[:4])
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, buf[4:n]); err != nil {
		return nil, err
	}
	if buf[0]>>6 == 0 && binary.BigEndian.Uint32(buf[4:8]) != 0x2112A442 {
		return nil, fmt.Errorf("%w: no STUN magic cookie", errBadFrame)
	}
	return buf[:n], nil
}

// streamConn is one client's TCP or TLS connection as pion reads it: Read
// hands over exactly the frames the tap let through, Write shows the tap
// each message pion sends (pion writes one whole message per call).
type streamConn struct {
	net.Conn
	tap  *tap
	idle time.Duration // read deadline after the first frame
	done func()        // pion's goroutine for this connection has ended

	buf     []byte
	pending []byte
	frames  int
	once    sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		wait := c.idle
		if c.frames == 0 {
			wait = firstFrameTimeout
		}
		if err := c.Conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return 0, err
		}
		frame, err := readFrame(c.Conn, c.buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.tap.srv.logPeer("closing TURN connection", "transport", c.tap.transport.String(), "remote", c.RemoteAddr().String(), "err", err)
			}
			return 0, err
		}
		c.frames++
		fwd, reply := c.tap.inbound(frame, c.RemoteAddr())
		if reply != nil {
			if _, err := c.Conn.Write(reply); err != nil {
				return 0, err
			}
		}
		c.pending = fwd
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.tap.outbound(p, c.RemoteAddr())
	return c.Conn.Write(p)
}

// Close is called by pion when its goroutine for the connection returns.
func (c *streamConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// streamListener hands pion framed connections and remembers them, so that
// Close can end connections pion itself would leave open.
type streamListener struct {
	net.Listener
	tap  *tap
	idle time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // one per connection until pion is done with it
}

func newStreamListener(ln net.Listener, t *tap, idle time.Duration) *streamListener {
	return &streamListener{Listener: ln, tap: t, idle: idle, conns: map[net.Conn]struct{}{}}
}

func (l *streamListener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = raw.Close()
		return nil, net.ErrClosed
	}
	l.conns[raw] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	return &streamConn{Conn: raw, tap: l.tap, idle: l.idle, buf: make([]byte, maxFrame), done: func() {
		l.mu.Lock()
		delete(l.conns, raw)
		l.mu.Unlock()
		l.wg.Done()
	}}, nil
}

// closeAll closes the listener and every connection, then waits until pion
// has let go of each.
func (l *streamListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	l.wg.Wait()
}

// packetConn is the UDP listener as pion reads it.
type packetConn struct {
	net.PacketConn
	tap *tap
}

func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		fwd, reply := c.tap.inbound(p[:n], addr)
		if reply != nil {
			_, _ = c.PacketConn.WriteTo(reply, addr)
		}
		switch {
		case fwd == nil:
			continue
		case len(fwd) > len(p): // a rewrite that does not fit: pion gets the original
			return n, addr, nil
		case len(fwd) > 0 && &fwd[0] != &p[0]:
			n = copy(p, fwd)
		}
		return n, addr, nil
	}
}

func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.tap.outbound(p, addr)
	return c.PacketConn.WriteTo(p, addr)
}
