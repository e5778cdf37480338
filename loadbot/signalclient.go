package loadbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
)

// maxServerMessageBytes bounds one message from the SFU: a joined message
// for a room of tens of thousands, far more than a room holds.
const maxServerMessageBytes = 4 << 20

// signalClient is one bot's WebSocket to the SFU. A read goroutine hands
// messages to handle; writes are serialised by coder/websocket.
type signalClient struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	err    error // why the read loop ended
	closed bool
}

// dialSignal opens the WebSocket. The HTTP client is shared by all bots.
func dialSignal(ctx context.Context, url string, hc *http.Client) (*signalClient, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	// Server messages may exceed the limit on client messages: joined
	// lists every member of the room (about 60 bytes each).
	conn.SetReadLimit(maxServerMessageBytes)
	c := &signalClient{conn: conn}
	// The socket's life is the bot's, not the dial's: a separate context.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// start runs the read loop; handle is called on the read goroutine, in
// order. done is called once when the loop ends, with the reason.
func (c *signalClient) start(handle func(signal.Message), done func(error)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := c.readLoop(handle)
		c.mu.Lock()
		c.err = err
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			done(err)
		}
	}()
}

func (c *signalClient) readLoop(handle func(signal.Message)) error {
	for {
		_, data, err := c.conn.Read(c.ctx)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrServerGone, err)
		}
		var m signal.Message
		if err := json.Unmarshal(data, &m); err != nil {
			continue // a message from a newer server; ignore rather than fail
		}
		switch m.Type {
		case signal.TypePing:
			_ = c.send(signal.Message{Type: signal.TypePong})
		case signal.TypeEvents:
			// Room events that happened close together, in order: each
			// is handled as if it had arrived alone.
			for _, ev := range m.Events {
				handle(ev)
			}
		default:
			handle(m)
		}
	}
}

// send writes one message with a bounded wait, so a stalled server cannot
// hang a bot.
func (c *signalClient) send(m signal.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, data)
}

// close says goodbye (best effort) and waits for the read loop.
func (c *signalClient) close(leave bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	if leave {
		_ = c.send(signal.Message{Type: signal.TypeLeave})
	}
	// CloseNow rather than a close handshake: a dead server would make a
	// polite Close wait for its timeout.
	_ = c.conn.CloseNow()
	c.cancel()
	c.wg.Wait()
}

// codeOf returns the signaling error code carried by err, if any.
func codeOf(err error) (signal.Code, bool) {
	var se *signal.Error
	if errors.As(err, &se) {
		return se.Code, true
	}
	return "", false
}
