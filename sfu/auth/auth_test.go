package auth

import (
	"errors"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	v := NewVerifier(map[string]string{"k1": "s1", "k2": "s2"}, clock)
	full := Grant{Room: "r", Identity: "alice", CanPublish: true, CanSubscribe: true}

	mint := func(key, secret string, g Grant, ttl time.Duration) string {
		t.Helper()
		tok, err := Mint(key, secret, g, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", mint("k1", "s1", full, time.Hour), nil},
		{"second key", mint("k2", "s2", full, time.Hour), nil},
		{"wrong secret", mint("k1", "s2", full, time.Hour), ErrSignature},
		{"unknown key", mint("k3", "s1", full, time.Hour), ErrUnknownKey},
		{"expired", mint("k1", "s1", full, -time.Second), ErrExpired},
		{"garbage", "not.a.jwt", ErrMalformed},
		{"empty", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if g != full {
					t.Fatalf("grant = %+v, want %+v", g, full)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMintRejectsEmptyGrant(t *testing.T) {
	if _, err := Mint("k", "s", Grant{Identity: "a"}, time.Hour, time.Now()); !errors.Is(err, ErrMissingRoom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Mint("k", "s", Grant{Room: "r"}, time.Hour, time.Now()); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("err = %v", err)
	}
}

// TestAdminGrant: an admin token may leave the room out (every room); a
// plain token may not, so no join can ever land in the nameless room.
func TestAdminGrant(t *testing.T) {
	now := time.Now()
	v := NewVerifier(map[string]string{"k": "s"}, nil)
	tok, err := Mint("k", "s", Grant{Identity: "ops", Admin: true}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify(tok)
	if err != nil || !g.Admin || g.Room != "" || g.Identity != "ops" {
		t.Fatalf("admin token verified as %+v, %v", g, err)
	}
	if _, err := Mint("k", "s", Grant{Identity: "alice", CanPublish: true}, time.Hour, now); !errors.Is(err, ErrMissingRoom) {
		t.Fatalf("non-admin token without room: %v, want ErrMissingRoom", err)
	}
	g, err = v.Verify(mustMint(t, "k", "s", Grant{Room: "r", Identity: "alice"}, now))
	if err != nil || g.Admin {
		t.Fatalf("plain token verified as %+v, %v; must not carry admin", g, err)
	}
}

func mustMint(t *testing.T, key, secret string, g Grant, now time.Time) string {
	t.Helper()
	tok, err := Mint(key, secret, g, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
