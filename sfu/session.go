package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
)

// sendQueue bounds the messages waiting for one client's socket. A client
// that lets it fill is not reading: it is disconnected rather than let the
// room's broadcasts pile up in memory.
const sendQueue = 256

const writeTimeout = 5 * time.Second

// errTimedOut is returned by read once the timeout error is on its way to
// the client and the socket is closing.
var errTimedOut = errors.New("signaling read timed out")

// session is one signaling WebSocket. Any goroutine may send; one writer
// goroutine owns the socket's write side, the HTTP handler goroutine its
// read side.
type session struct {
	conn *websocket.Conn
	log  *slog.Logger
	out  chan outMsg
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	kick     chan outMsg // the too_slow leave, ahead of the full queue
	slowOnce sync.Once

	// region is the ?region= of the connect URL: the client's preferred
	// placement region (in a cluster) when its token names none.
	region string

	// Owned by the read goroutine: a token bucket for logging what the
	// peer does wrong, so a misbehaving client cannot flood the log.
	logTokens float64
	logAt     time.Time
}

// logAllowed reports whether another peer-triggered log line may be written
// now: a burst of 5, then one per second.
func (s *session) logAllowed(now time.Time) bool {
	if s.logAt.IsZero() {
		s.logTokens = 5
	} else {
		s.logTokens = min(5, s.logTokens+now.Sub(s.logAt).Seconds())
	}
	s.logAt = now
	if s.logTokens < 1 {
		return false
	}
	s.logTokens--
	return true
}

type outMsg struct {
	msg   signal.Message
	close bool // close the socket after writing msg
}

func newSession(conn *websocket.Conn, log *slog.Logger) *session {
	s := &session{conn: conn, log: log, out: make(chan outMsg, sendQueue), done: make(chan struct{}), kick: make(chan outMsg, 1)}
	s.wg.Add(1)
	go s.writeLoop()
	return s
}

func (s *session) send(m signal.Message) {
	select {
	case <-s.done:
	case s.out <- outMsg{msg: m}:
	default:
		s.dropSlow()
	}
}

// dropSlow disconnects a client that lets its queue fill, telling it why
// first: the leave jumps the queue, and the writer closes the socket after
// it (or after writeTimeout, if the client reads nothing at all).
func (s *session) dropSlow() {
	s.slowOnce.Do(func() {
		s.log.Warn("signaling client is not reading; disconnecting", "queued", sendQueue)
		s.kick <- outMsg{msg: signal.Message{Type: signal.TypeLeave, Code: signal.CodeTooSlow,
			Reason: fmt.Sprintf("%d messages waited for this client to read them", sendQueue)}, close: true}
	})
}

// sendAndClose writes m (an error or a leave) and then closes the socket, so
// the client learns why it was disconnected.
func (s *session) sendAndClose(m signal.Message) {
	select {
	case <-s.done:
	case s.out <- outMsg{msg: m, close: true}:
	default:
		s.close()
	}
}

// close ends the session at once; the read loop then returns.
func (s *session) close() {
	s.once.Do(func() {
		close(s.done)
		_ = s.conn.CloseNow()
	})
}

// wait blocks until the writer has stopped.
func (s *session) wait() { s.wg.Wait() }

func (s *session) writeLoop() {
	defer s.wg.Done()
	for {
		var o outMsg
		select {
		case o = <-s.kick:
		default:
			select {
			case <-s.done:
				return
			case o = <-s.kick:
			case o = <-s.out:
			}
		}
		data, err := json.Marshal(o.msg)
		if err != nil {
			s.log.Error("encode signaling message", "type", o.msg.Type, "err", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err = s.conn.Write(ctx, websocket.MessageText, data)
		cancel()
		if err != nil {
			s.close()
			return
		}
		if o.close {
			status := websocket.StatusNormalClosure
			if o.msg.Type == signal.TypeError {
				status = websocket.StatusPolicyViolation
			}
			reason := string(o.msg.Code)
			_ = s.conn.Close(status, reason)
			s.close()
			return
		}
	}
}

// read returns the next client message. A message over limit gets a
// message_too_large error (the socket's own limit, a few times larger, stops
// anything huge before it is buffered). A client silent for timeout is
// disconnected.
func (s *session) read(ctx context.Context, timeout time.Duration, limit int) (signal.Message, error) {
	// Not a read deadline on ctx: the socket library closes the connection
	// when a read's context ends, and the client would never learn why.
	// The timer instead queues the timeout error, which the writer sends
	// before it closes the socket and so ends this read.
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		s.sendAndClose(signal.ErrorMessage(signal.Errorf(signal.CodeTimeout, "no message for %s", timeout)))
	})
	typ, data, err := s.conn.Read(ctx)
	timer.Stop()
	if timedOut.Load() {
		return signal.Message{}, errTimedOut
	}
	if err != nil {
		return signal.Message{}, err
	}
	if typ != websocket.MessageText {
		return signal.Message{}, signal.Errorf(signal.CodeBadRequest, "binary messages are not accepted; send JSON text")
	}
	return signal.Decode(data, limit)
}

// startPinger sends a ping every interval so that clients behind idle-timeout
// middleboxes stay connected and their pong resets our read deadline.
func (s *session) startPinger(interval time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.send(signal.Message{Type: signal.TypePing})
			}
		}
	}()
}
