package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is the slog level Pion's trace messages are logged at, below
// slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// WithPionLogLevel sets the lowest level of Pion's own messages (ICE, DTLS,
// SRTP, SCTP) that reach the server's logger (default slog.LevelWarn: Pion
// logs every connection's state changes at info). The logger's own level
// still applies on top.
func WithPionLogLevel(l slog.Level) Option { return func(s *Server) { s.pionLevel = &l } }

// pionLoggerFactory routes Pion's logs into slog, each logger tagged with
// its Pion scope ("ice", "dtls", "pc", …), filtered by min.
type pionLoggerFactory struct {
	log *slog.Logger
	min slog.Level
}

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope), min: f.min}
}

type pionLogger struct {
	log *slog.Logger
	min slog.Level
}

func (l pionLogger) enabled(level slog.Level) bool {
	return level >= l.min && l.log.Enabled(context.Background(), level)
}

func (l pionLogger) emit(level slog.Level, msg string) {
	if l.enabled(level) {
		l.log.Log(context.Background(), level, msg)
	}
}

// emitf formats only when the message will be written: Pion formats
// per-packet trace messages in some paths.
func (l pionLogger) emitf(level slog.Level, format string, args ...any) {
	if l.enabled(level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.emit(LevelTrace, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.emitf(LevelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }

// pionLogs is the factory for the server's SettingEngine.
func (s *Server) pionLogs() logging.LoggerFactory {
	min := slog.LevelWarn
	if s.pionLevel != nil {
		min = *s.pionLevel
	}
	return pionLoggerFactory{log: s.log, min: min}
}
