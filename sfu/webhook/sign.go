package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Sentinel errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no Authorization: Bearer header")
	ErrBadSignature = errors.New("webhook: signature does not verify")
	ErrBodyMismatch = errors.New("webhook: body does not match the signed SHA-256")
)

// claims is the signature: a JWT signed like access tokens (HS256, issuer =
// API key) carrying the SHA-256 of the exact body bytes, so the body needs
// no canonical form and a captured token cannot vouch for another body.
type claims struct {
	SHA256 string `json:"sha256"`
	jwt.RegisteredClaims
}

// tokenTTL bounds replays of a captured request; retries sign afresh.
const tokenTTL = 5 * time.Minute

// Sign returns the Authorization header value for body.
func Sign(body []byte, apiKey, secret string, now time.Time) (string, error) {
	sum := sha256.Sum256(body)
	c := claims{
		SHA256: base64.StdEncoding.EncodeToString(sum[:]),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apiKey,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// Verify checks a webhook request the way a receiver should and returns its
// body: the bearer JWT verifies with the secret of its issuer in keys and is
// current, and its sha256 claim is the SHA-256 of the body. maxBody bounds
// what is read.
func Verify(r *http.Request, keys map[string]string, maxBody int64) ([]byte, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, ErrNoSignature
	}
	var c claims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()).
		ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
			iss, _ := t.Claims.GetIssuer()
			secret, ok := keys[iss]
			if !ok {
				return nil, fmt.Errorf("unknown API key %q", iss)
			}
			return []byte(secret), nil
		})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare([]byte(base64.StdEncoding.EncodeToString(sum[:])), []byte(c.SHA256)) != 1 {
		return nil, ErrBodyMismatch
	}
	return body, nil
}
