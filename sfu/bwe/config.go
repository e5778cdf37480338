package bwe

import (
	"errors"
	"time"
)

// Config tunes the estimator. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Initial, Min and Max bound the estimate (bps).
	Initial, Min, Max int64
	// QueueGate is how much the smoothed one-way delay must have grown
	// over the trend window before a rising trend counts as overuse: the
	// line between a queue building and delay noise.
	QueueGate time.Duration
	// OveruseTime is how long the trend must stay over the threshold.
	OveruseTime time.Duration
	// LossLow and LossHigh: below LossLow the loss-based bound may grow,
	// above LossHigh it shrinks (never below what was delivered).
	LossLow, LossHigh float64
}

// DefaultConfig is tuned for video conferencing downlinks.
func DefaultConfig() Config {
	return Config{
		Initial:     1_500_000,
		Min:         100_000,
		Max:         20_000_000,
		QueueGate:   5 * time.Millisecond,
		OveruseTime: 30 * time.Millisecond,
		LossLow:     0.02,
		LossHigh:    0.10,
	}
}

// ErrConfig is returned for settings the estimator cannot run with.
var ErrConfig = errors.New("bwe: invalid config")

// Validate reports settings the estimator cannot run with.
func (c *Config) Validate() error {
	if c.Min <= 0 || c.Initial < c.Min || c.Max < c.Initial {
		return errors.Join(ErrConfig, errors.New("need 0 < min <= initial <= max"))
	}
	if c.QueueGate < 0 || c.OveruseTime < 0 || c.LossLow < 0 || c.LossHigh < c.LossLow || c.LossHigh > 1 {
		return errors.Join(ErrConfig, errors.New("need non-negative gate and overuse time, 0 <= loss_low <= loss_high <= 1"))
	}
	return nil
}
