package turn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/logging"
)

// pionLogs adapts pion's logging to slog. Pion's TURN server logs peer
// mistakes (a malformed datagram, a bad credential) as errors, so a
// hostile client could fill the log: everything pion says goes to debug,
// through one token bucket per server, and the server logs what matters
// itself.
type pionLogs struct {
	log    *slog.Logger
	bucket *logBucket
}

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope), bucket: f.bucket}
}

type pionLogger struct {
	log    *slog.Logger
	bucket *logBucket
}

func (l pionLogger) emit(msg string) {
	if l.allowed() {
		l.log.Debug(msg)
	}
}

func (l pionLogger) emitf(format string, args ...interface{}) {
	if l.allowed() {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) allowed() bool {
	return l.log.Enabled(context.Background(), slog.LevelDebug) && l.bucket.allow(time.Now())
}

func (l pionLogger) Trace(string)                      {}
func (l pionLogger) Tracef(string, ...interface{})     {}
func (l pionLogger) Debug(m string)                    { l.emit(m) }
func (l pionLogger) Debugf(f string, a ...interface{}) { l.emitf(f, a...) }
func (l pionLogger) Info(m string)                     { l.emit(m) }
func (l pionLogger) Infof(f string, a ...interface{})  { l.emitf(f, a...) }
func (l pionLogger) Warn(m string)                     { l.emit(m) }
func (l pionLogger) Warnf(f string, a ...interface{})  { l.emitf(f, a...) }
func (l pionLogger) Error(m string)                    { l.emit(m) }
func (l pionLogger) Errorf(f string, a ...interface{}) { l.emitf(f, a...) }

// logBucket allows a burst of 10 lines, then 2 per second.
type logBucket struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

func (b *logBucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.tokens = 10
	} else {
		b.tokens = min(10, b.tokens+2*now.Sub(b.at).Seconds())
	}
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
