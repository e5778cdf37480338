// Package auth mints and verifies Surge access tokens: HS256 JWTs whose
// issuer is an API key and whose signing secret is that key's secret. A token
// grants one identity access to one room, with publish and subscribe rights,
// until it expires.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The built-in development key. It is used only when no keys are configured,
// and the server then refuses to listen on anything but loopback.
const (
	DevAPIKey    = "devkey"
	DevAPISecret = "surge-dev-secret-do-not-use-in-production"
)

// Sentinel errors; Verify wraps one of them.
var (
	ErrMalformed   = errors.New("malformed token")
	ErrUnknownKey  = errors.New("token signed with an unknown API key")
	ErrSignature   = errors.New("token signature is invalid")
	ErrExpired     = errors.New("token has expired")
	ErrMissingRoom = errors.New("token grants no room")
	ErrNoIdentity  = errors.New("token has no identity")
)

// Grant is what a token allows.
type Grant struct {
	Room         string `json:"room"`
	Identity     string `json:"-"` // carried as the JWT subject
	CanPublish   bool   `json:"can_publish"`
	CanSubscribe bool   `json:"can_subscribe"`
	// Admin grants the room service API (list, remove, mute, close). With
	// Room set it is limited to that room; with Room empty it covers every
	// room. An admin grant alone does not let its holder join a room.
	Admin bool `json:"admin,omitempty"`
	// Region, if set, is where the client prefers its room to be placed
	// in a multi-node cluster (a node of that region with headroom).
	Region string `json:"region,omitempty"`
}

type claims struct {
	Grant Grant `json:"surge"`
	jwt.RegisteredClaims
}

// Mint signs a token for g with the given key, valid for ttl from now.
func Mint(apiKey, secret string, g Grant, ttl time.Duration, now time.Time) (string, error) {
	if g.Room == "" && !g.Admin {
		return "", ErrMissingRoom
	}
	if g.Identity == "" {
		return "", ErrNoIdentity
	}
	c := claims{
		Grant: g,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			Subject:   g.Identity,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), // tolerate clock skew
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// Verifier checks tokens against a set of API keys.
type Verifier struct {
	keys map[string]string // api key → secret
	now  func() time.Time
}

// NewVerifier returns a Verifier for keys (API key → secret). now may be nil.
func NewVerifier(keys map[string]string, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	k := make(map[string]string, len(keys))
	for key, secret := range keys {
		k[key] = secret
	}
	return &Verifier{keys: k, now: now}
}

// Verify returns the grant of a valid token, or an error wrapping one of the
// sentinel errors above.
func (v *Verifier) Verify(token string) (Grant, error) {
	var c claims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(v.now),
		jwt.WithExpirationRequired(),
	)
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		secret, ok := v.keys[iss]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrUnknownKey, iss)
		}
		return []byte(secret), nil
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownKey):
		return Grant{}, fmt.Errorf("%w", ErrUnknownKey)
	case errors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, ErrExpired
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Grant{}, ErrSignature
	default:
		return Grant{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	c.Grant.Identity = c.Subject
	if c.Grant.Room == "" && !c.Grant.Admin {
		return Grant{}, ErrMissingRoom
	}
	if c.Grant.Identity == "" {
		return Grant{}, ErrNoIdentity
	}
	return c.Grant, nil
}
