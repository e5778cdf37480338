package simulcast

import "errors"

// Sentinel errors of package simulcast.
var (
	// ErrConfig wraps every Config.Validate failure; the message names the key.
	ErrConfig = errors.New("invalid simulcast configuration")
	// ErrVP8Truncated means a VP8 payload ended inside its payload descriptor:
	// drop the packet, it cannot be rewritten safely.
	ErrVP8Truncated = errors.New("vp8: payload descriptor truncated")
	// ErrBufferTooSmall means the scratch buffer cannot hold a rewritten
	// payload; give the Forwarder a buffer of at least 1500 bytes.
	ErrBufferTooSmall = errors.New("vp8: destination buffer too small")
)
