package loadbot

import "errors"

// Sentinel errors of package loadbot.
var (
	ErrConfig      = errors.New("invalid loadbot configuration")
	ErrServerGone  = errors.New("server went away")
	ErrICETimeout  = errors.New("ICE did not connect in time")
	ErrNoMedia     = errors.New("no media arrived in time")
	ErrJoinTimeout = errors.New("no joined message in time")
	// ErrRedirectLoop: a join was redirected more than Config.MaxRedirects times.
	ErrRedirectLoop = errors.New("too many redirects")
)
