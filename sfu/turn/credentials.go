package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme (and coturn) fix HMAC-SHA1
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TURN REST credentials (draft-uberti-behave-turn-rest, what coturn calls
// use-auth-secret): the username is "expiry:identity", expiry in Unix
// seconds, and the password is base64(HMAC-SHA1(secret, username)). Anyone
// holding the shared secret can mint them; a TURN server checks them
// without a user database, so an external coturn and the embedded server
// accept the same credentials.

// maxIdentity bounds the identity part: STUN limits USERNAME to 513 bytes.
const maxIdentity = 256

// Mint returns credentials for identity that expire ttl after now.
func Mint(secret, identity string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + identity
	return username, Password(secret, username)
}

// Password is base64(HMAC-SHA1(secret, username)).
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a TURN REST username into its expiry and identity.
func ParseUsername(username string) (expiry time.Time, identity string, err error) {
	ts, identity, ok := strings.Cut(username, ":")
	if !ok || identity == "" || len(identity) > maxIdentity || ts == "" || len(ts) > 12 {
		return time.Time{}, "", fmt.Errorf("%w: %q", ErrBadUsername, truncate(username))
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 || ts[0] == '+' {
		return time.Time{}, "", fmt.Errorf("%w: expiry %q", ErrBadUsername, truncate(ts))
	}
	return time.Unix(secs, 0), identity, nil
}

// checkUsername parses username and refuses it once expired.
func checkUsername(username string, now time.Time) (identity string, err error) {
	expiry, identity, err := ParseUsername(username)
	if err != nil {
		return "", err
	}
	if !now.Before(expiry) {
		return "", fmt.Errorf("%w at %s", ErrExpired, expiry.UTC().Format(time.RFC3339))
	}
	return identity, nil
}

// truncate keeps peer-supplied strings in errors and logs short.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
