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

// stuckWrite is how long one write may block while room events wait before
// the client counts as not reading. Room events do not fill sendQueue (they
// gather in an eventBatch, bounded by the room), so a client that stops
// reading in a busy room is found this way rather than by its queue.
const stuckWrite = time.Second

// eventBatchInterval is how long room events may gather before the writer
// sends them. A join is announced to every member: one message per member
// per join is n² writes when a crowd joins at once, while one batch per
// member per interval is a few hundred. Messages that are not room events
// do not wait (and take the events queued before them along).
const eventBatchInterval = 20 * time.Millisecond

// In rooms larger than crowdMembers, events gather for crowdSpacing per
// member (at most maxEventGather): each member's batch then holds about
// the same number of events however large the room, so the server's writes
// per second stay flat instead of growing with the room while a crowd
// joins, and the joins it is answering get the CPU.
const (
	crowdMembers   = 200
	crowdSpacing   = 100 * time.Microsecond
	maxEventGather = 250 * time.Millisecond
)

// eventGather is how long events may gather in a room of n members.
func eventGather(n int) time.Duration {
	if n <= crowdMembers {
		return eventBatchInterval
	}
	return min(time.Duration(n)*crowdSpacing, maxEventGather)
}

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
	// writing is when the write in progress began (UnixNano), 0 between
	// writes: sendEvent reads it to find a writer stuck on a client.
	writing atomic.Int64

	// mu orders what is queued: every event in events was queued after
	// every message in out, so the writer sends out first.
	mu      sync.Mutex
	events  eventBatch
	gather  time.Duration // how long the waiting events may gather
	evReady chan struct{} // signalled when events stop being empty

	// region is the ?region= of the connect URL: the client's preferred
	// placement region (in a cluster) when its token names none.
	region string

	// Owned by the read goroutine: a token bucket for logging what the
	// peer does wrong, so a misbehaving client cannot flood the log.
	logTokens float64
	logAt     time.Time

	// The session's timers, made once: a context with a deadline for
	// every read and write cost the socket library a context.AfterFunc
	// each, and the read timer its own closure (~10 allocations per
	// message, at 250 participants a quarter of what the server allocated
	// while forwarding).
	stopCtx     func() bool // unregisters the close on the server's context
	readTimer   *time.Timer // queues the timeout error (onReadTimeout)
	readTimeout atomic.Int64
	readExpired atomic.Bool
	writeTimer  *time.Timer // closes a socket whose write is stuck
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
	// msg is a pointer: a session's queue holds sendQueue of these, and a
	// Message by value (352 bytes) made that queue 90 kB per participant,
	// a fifth of what a subscriber costs the server in memory.
	msg   *signal.Message
	raw   []byte // already encoded (room events); msg is then nil
	close bool   // close the socket after writing msg
}

// newSession serves conn until it closes or ctx (the server's) ends.
func newSession(ctx context.Context, conn *websocket.Conn, log *slog.Logger) *session {
	s := &session{conn: conn, log: log, out: make(chan outMsg, sendQueue), done: make(chan struct{}),
		kick: make(chan outMsg, 1), evReady: make(chan struct{}, 1)}
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.conn.CloseNow() })
	s.readTimer = time.AfterFunc(time.Hour, s.onReadTimeout)
	s.readTimer.Stop()
	s.writeTimer = time.AfterFunc(time.Hour, func() { _ = s.conn.CloseNow() })
	s.writeTimer.Stop()
	s.wg.Add(1)
	go s.writeLoop()
	return s
}

func (s *session) send(m signal.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Room events queued before m go before it: a track_published must
	// reach the client ahead of the offer that carries the track.
	if !s.events.empty() && !s.push(outMsg{raw: s.events.take()}) {
		return
	}
	s.push(outMsg{msg: &m})
}

// push queues o for the writer; s.mu is held.
func (s *session) push(o outMsg) bool {
	select {
	case <-s.done:
		return false
	case s.out <- o:
		return true
	default:
		s.dropSlow()
		return false
	}
}

// dropSlow disconnects a client that lets its queue fill, telling it why
// first: the leave jumps the queue, and the writer closes the socket after
// it (or after writeTimeout, if the client reads nothing at all).
func (s *session) dropSlow() {
	s.slowOnce.Do(func() {
		s.log.Warn("signaling client is not reading; disconnecting", "queued", sendQueue)
		s.kick <- outMsg{msg: &signal.Message{Type: signal.TypeLeave, Code: signal.CodeTooSlow,
			Reason: fmt.Sprintf("%d messages waited for this client to read them", sendQueue)}, close: true}
	})
}

// sendEvent queues a room event. Events wait up to gather (see
// eventGather) and go out together; they do not count against sendQueue, and the batch is
// bounded by the room's size (see eventBatch).
func (s *session) sendEvent(e roomEvent, gather time.Duration) {
	s.mu.Lock()
	// Events already waiting were signalled and not yet taken: the writer
	// takes this one with them.
	wake := s.events.empty()
	s.events.add(e)
	s.gather = gather
	s.mu.Unlock()
	if t := s.writing.Load(); t != 0 && time.Since(time.Unix(0, t)) > stuckWrite {
		s.dropSlow()
	}
	if wake {
		select {
		case s.evReady <- struct{}{}:
		default:
		}
	}
}

// takeEvents returns the next batch of events, or ok false while messages
// queued before them are still waiting.
func (s *session) takeEvents() (raw []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.out) > 0 {
		return nil, false
	}
	return s.events.take(), true
}

// sendAndClose writes m (an error or a leave) and then closes the socket, so
// the client learns why it was disconnected.
func (s *session) sendAndClose(m signal.Message) {
	select {
	case <-s.done:
	case s.out <- outMsg{msg: &m, close: true}:
	default:
		s.close()
	}
}

// close ends the session at once; the read loop then returns.
func (s *session) close() {
	s.once.Do(func() {
		close(s.done)
		s.stopCtx()
		_ = s.conn.CloseNow()
	})
}

// wait blocks until the writer has stopped.
func (s *session) wait() { s.wg.Wait() }

func (s *session) writeLoop() {
	defer s.wg.Done()
	for {
		if s.kicked() {
			return
		}
		select {
		case <-s.done:
			return
		case o := <-s.kick:
			s.write(o)
			return
		case o := <-s.out:
			if !s.write(o) {
				return
			}
		case <-s.evReady:
			if !s.writeEvents() {
				return
			}
		}
	}
}

// kicked writes the too_slow leave if dropSlow queued it, before anything
// else waiting; true means the session is over.
func (s *session) kicked() bool {
	select {
	case o := <-s.kick:
		s.write(o)
		return true
	default:
		return false
	}
}

// writeEvents lets events gather for the session's gather interval, writing other
// messages meanwhile, then writes every event waiting. It reports false
// once the session is over.
func (s *session) writeEvents() bool {
	s.mu.Lock()
	interval := s.gather
	s.mu.Unlock()
	gather := time.NewTimer(interval)
	defer gather.Stop()
	for waiting := true; waiting; {
		if s.kicked() {
			return false
		}
		select {
		case <-s.done:
			return false
		case o := <-s.kick:
			s.write(o)
			return false
		case o := <-s.out:
			if !s.write(o) {
				return false
			}
		case <-gather.C:
			waiting = false
		}
	}
	for {
		if s.kicked() {
			return false
		}
		raw, ok := s.takeEvents()
		switch {
		case !ok: // messages queued before these events go first
			if !s.write(<-s.out) {
				return false
			}
		case raw == nil:
			return true
		case !s.write(outMsg{raw: raw}):
			return false
		}
	}
}

// write sends one message; false means the session is over.
func (s *session) write(o outMsg) bool {
	data := o.raw
	if data == nil {
		var err error
		if data, err = json.Marshal(o.msg); err != nil {
			s.log.Error("encode signaling message", "type", o.msg.Type, "err", err)
			return true
		}
	}
	s.writeTimer.Reset(writeTimeout)
	s.writing.Store(time.Now().UnixNano())
	err := s.conn.Write(context.Background(), websocket.MessageText, data)
	s.writing.Store(0)
	s.writeTimer.Stop()
	if err != nil {
		s.close()
		return false
	}
	if o.close {
		status, reason := websocket.StatusNormalClosure, ""
		if o.msg != nil {
			if o.msg.Type == signal.TypeError {
				status = websocket.StatusPolicyViolation
			}
			reason = string(o.msg.Code)
		}
		_ = s.conn.Close(status, reason)
		s.close()
		return false
	}
	return true
}

// read returns the next client message. A message over limit gets a
// message_too_large error (the socket's own limit, a few times larger, stops
// anything huge before it is buffered). A client silent for timeout is
// disconnected.
func (s *session) read(timeout time.Duration, limit int) (signal.Message, error) {
	// Not a read deadline on a context: the socket library closes the
	// connection when a read's context ends, and the client would never
	// learn why. The timer instead queues the timeout error, which the
	// writer sends before it closes the socket and so ends this read.
	s.readTimeout.Store(int64(timeout))
	s.readTimer.Reset(timeout)
	typ, data, err := s.conn.Read(context.Background())
	s.readTimer.Stop()
	if s.readExpired.Load() {
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

func (s *session) onReadTimeout() {
	s.readExpired.Store(true)
	s.sendAndClose(signal.ErrorMessage(signal.Errorf(signal.CodeTimeout, "no message for %s", time.Duration(s.readTimeout.Load()))))
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
