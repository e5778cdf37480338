package turn

import "errors"

// Sentinel errors of package turn.
var (
	ErrConfig = errors.New("invalid TURN configuration")
	// ErrBadUsername: not a TURN REST username ("expiry:identity").
	ErrBadUsername = errors.New("TURN username is not expiry:identity")
	// ErrExpired: the credential's expiry has passed.
	ErrExpired = errors.New("TURN credential has expired")
)
