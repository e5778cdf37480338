package simulcast

import (
	"fmt"
	"time"
)

// Config tunes layer selection, budget allocation and keyframe requests. The
// mapstructure tags are the keys under "simulcast." in configs/sfu.yaml.
type Config struct {
	// UpHold is how long the budget must have covered a higher layer (with
	// UpHeadroom, and with loss at most UpMaxLoss) without interruption
	// before the Selector steps up to it. It is what keeps a wobbling
	// estimate from flapping layers. Default 3s.
	UpHold time.Duration `mapstructure:"up_hold"`
	// UpHeadroom is the factor over a layer's measured bitrate, held at its
	// recent peak (Selector.HoldRates), that the budget must reach before
	// stepping up (and that the Allocator charges for a layer a track is not
	// on yet). Default 1.15.
	UpHeadroom float64 `mapstructure:"up_headroom"`
	// DownHeadroom is the factor over the current layer's bitrate below which
	// the Selector steps down at once (and that the Allocator charges to keep
	// a track on its current layer). Keep it below UpHeadroom: the gap is
	// the hysteresis band. Default 1.0.
	DownHeadroom float64 `mapstructure:"down_headroom"`
	// PauseHeadroom is the factor over the lowest layer's bitrate below
	// which the budget pauses video. Between it and DownHeadroom a track
	// steps down to the lowest layer, or stays there, rather than pause:
	// near the bottom an estimate reads a link that carries the lowest
	// layer as up to half short of it (a probe's queue, the loss of the
	// layer being left), and a paused picture costs more than one sent a
	// little over the estimate. Loss, not the estimate, then decides: a
	// track that has been on the lowest layer for LossHold with loss above
	// HighLoss is paused. A step down for bandwidth from a layer the budget
	// covers less than this factor of also stops that layer at once
	// (Decision.Drain). Default 0.5; at most DownHeadroom.
	PauseHeadroom float64 `mapstructure:"pause_headroom"`
	// HighLoss is the recent loss fraction (0..1) that counts as a budget
	// shortfall: the Selector steps down one layer, never below the lowest
	// layer (loss alone pauses video only on a budget short of the lowest
	// layer: see PauseHeadroom). Default 0.10.
	HighLoss float64 `mapstructure:"high_loss"`
	// UpMaxLoss is the loss fraction above which stepping up is not
	// considered; the UpHold clock restarts once loss falls back. Default 0.02.
	UpMaxLoss float64 `mapstructure:"up_max_loss"`
	// LossHold is the minimum time between two loss-driven step-downs, so
	// that a loss figure measured over a window does not walk the track all
	// the way down before it reflects the lower layer. Default 2s.
	LossHold time.Duration `mapstructure:"loss_hold"`
	// KeyframeRetry is how long the Forwarder waits for the keyframe that
	// completes a switch before asking the publisher again. Default 500ms.
	KeyframeRetry time.Duration `mapstructure:"keyframe_retry"`
	// KeyframeThrottle is the minimum interval between two keyframe requests
	// from one DownTrack, even when the target changes in between: keyframes
	// are expensive for the publisher and for every other subscriber.
	// Default 200ms.
	KeyframeThrottle time.Duration `mapstructure:"keyframe_throttle"`
	// ProvenUpHold replaces UpHold while the estimate rests on evidence (a
	// probe that measured the link, or congestion it reacted to) rather than
	// on the initial guess: such an estimate does not wobble, and a viewer
	// should not wait seconds for the layer the link was shown to carry.
	// Default 300ms.
	ProvenUpHold time.Duration `mapstructure:"proven_up_hold"`
	// AudioReserve is the bitrate (bps) set aside per audio track before
	// video is allocated: audio always flows. Default 64000.
	AudioReserve int64 `mapstructure:"audio_reserve"`
}

// DefaultConfig returns the defaults documented on each Config field.
func DefaultConfig() Config {
	return Config{
		UpHold:           3 * time.Second,
		UpHeadroom:       1.15,
		DownHeadroom:     1.0,
		PauseHeadroom:    0.5,
		HighLoss:         0.10,
		UpMaxLoss:        0.02,
		LossHold:         2 * time.Second,
		KeyframeRetry:    500 * time.Millisecond,
		KeyframeThrottle: 200 * time.Millisecond,
		AudioReserve:     64000,
		ProvenUpHold:     300 * time.Millisecond,
	}
}

// Validate rejects settings that would make selection flap or stall.
func (c *Config) Validate() error {
	switch {
	case c.UpHold < 0:
		return fmt.Errorf("%w: simulcast.up_hold must not be negative", ErrConfig)
	case c.DownHeadroom <= 0:
		return fmt.Errorf("%w: simulcast.down_headroom must be positive", ErrConfig)
	case c.PauseHeadroom <= 0 || c.PauseHeadroom > c.DownHeadroom:
		return fmt.Errorf("%w: need 0 < simulcast.pause_headroom <= simulcast.down_headroom", ErrConfig)
	case c.UpHeadroom < c.DownHeadroom:
		return fmt.Errorf("%w: simulcast.up_headroom must be at least simulcast.down_headroom, or layers flap", ErrConfig)
	case c.HighLoss <= 0 || c.HighLoss > 1 || c.UpMaxLoss < 0 || c.UpMaxLoss > c.HighLoss:
		return fmt.Errorf("%w: need 0 <= simulcast.up_max_loss <= simulcast.high_loss <= 1", ErrConfig)
	case c.KeyframeRetry <= 0 || c.KeyframeThrottle < 0:
		return fmt.Errorf("%w: simulcast.keyframe_retry must be positive and simulcast.keyframe_throttle not negative", ErrConfig)
	case c.ProvenUpHold < 0 || c.ProvenUpHold > c.UpHold:
		return fmt.Errorf("%w: need 0 <= simulcast.proven_up_hold <= simulcast.up_hold", ErrConfig)
	case c.AudioReserve < 0:
		return fmt.Errorf("%w: simulcast.audio_reserve must not be negative", ErrConfig)
	}
	return nil
}
