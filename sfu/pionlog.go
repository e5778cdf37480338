package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/logging"
)

// pionLogs routes Pion's logging into the server's slog logger. Pion logs
// per packet on paths a peer controls (an unhandled SSRC is an ERROR line,
// a packet that fails authentication an INFO line), so its warnings and
// errors share one budget — a burst of 5, then one line a second — and the
// next line that gets through says how many were suppressed. Pion's info
// goes to debug: it describes single packets, not the server's state.
type pionLogs struct {
	log *slog.Logger

	mu         sync.Mutex
	budget     tokenBucket
	suppressed int
}

func newPionLogs(log *slog.Logger) *pionLogs {
	return &pionLogs{log: log, budget: newTokenBucket(1, 5)}
}

// NewLogger is logging.LoggerFactory's.
func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{f: f, scope: scope}
}

func (f *pionLogs) emit(level slog.Level, scope, msg string) {
	if level >= slog.LevelWarn {
		f.mu.Lock()
		ok := f.budget.take(1, time.Now().UnixNano())
		n := f.suppressed
		if ok {
			f.suppressed = 0
		} else {
			f.suppressed++
		}
		f.mu.Unlock()
		if !ok {
			return
		}
		if n > 0 {
			f.log.Log(context.Background(), level, msg, "pion", scope, "suppressed_before", n)
			return
		}
	}
	f.log.Log(context.Background(), level, msg, "pion", scope)
}

type pionLogger struct {
	f     *pionLogs
	scope string
}

func (l *pionLogger) enabled(level slog.Level) bool {
	return l.f.log.Enabled(context.Background(), level)
}

func (l *pionLogger) logf(level slog.Level, format string, args ...any) {
	if l.enabled(level) {
		l.f.emit(level, l.scope, fmt.Sprintf(format, args...))
	}
}

func (l *pionLogger) Trace(msg string)                  { l.logf(slog.LevelDebug-4, "%s", msg) }
func (l *pionLogger) Tracef(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args...) }
func (l *pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l *pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l *pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l *pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l *pionLogger) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l *pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
