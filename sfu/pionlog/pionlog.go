// Package pionlog routes Pion's logging (pion/logging's LoggerFactory) to
// slog. Pion logs many peer mistakes (a malformed datagram, a bad TURN
// credential, a TCP connection that sends garbage) as warnings or errors, so
// a hostile client could fill an operator's log: everything Pion says goes
// to debug, through one token bucket per factory. Surge logs what matters
// itself, once, where it is handled.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/logging"
)

// New returns a LoggerFactory writing to log at debug level.
func New(log *slog.Logger) logging.LoggerFactory {
	return factory{log: log, bucket: &Bucket{}}
}

// Logger returns one scope's logger, e.g. for ice.TCPMuxParams.
func Logger(log *slog.Logger, scope string) logging.LeveledLogger {
	return New(log).NewLogger(scope)
}

type factory struct {
	log    *slog.Logger
	bucket *Bucket
}

func (f factory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope), bucket: f.bucket}
}

type pionLogger struct {
	log    *slog.Logger
	bucket *Bucket
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
	return l.log.Enabled(context.Background(), slog.LevelDebug) && l.bucket.Allow(time.Now())
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

// Bucket rate-limits log lines a peer can trigger: a burst of 10, then 2
// per second. The zero value is ready to use.
type Bucket struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

// Allow reports whether another line may be written now.
func (b *Bucket) Allow(now time.Time) bool {
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
