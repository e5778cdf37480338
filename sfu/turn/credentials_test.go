package turn

import (
	"errors"
	"testing"
	"time"
)

// The password is what coturn computes for use-auth-secret: the vector was
// made independently, with Python's hmac and base64 modules.
func TestPasswordMatchesTheRESTScheme(t *testing.T) {
	if got, want := Password("north-secret", "1700000000:alice"), "g+jb180fcj+xlpA/2mP60OdIgU0="; got != want {
		t.Fatalf("Password = %q, want %q", got, want)
	}
}

func TestMintNamesExpiryAndIdentity(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, pass := Mint("north-secret", "alice", time.Hour, now)
	if user != "1700003600:alice" {
		t.Fatalf("username %q", user)
	}
	if pass != Password("north-secret", user) {
		t.Fatal("password is not the HMAC of the username")
	}
	if id, err := checkUsername(user, now.Add(59*time.Minute)); err != nil || id != "alice" {
		t.Fatalf("valid credential refused: %q %v", id, err)
	}
	if _, err := checkUsername(user, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("credential at its expiry: err = %v, want ErrExpired", err)
	}
}

func TestParseUsername(t *testing.T) {
	for _, tc := range []struct {
		in       string
		identity string
		ok       bool
	}{
		{"1700000000:alice", "alice", true},
		{"1700000000:a:b", "a:b", true}, // identities may hold colons; the expiry may not
		{"1700000000", "", false},
		{"1700000000:", "", false},
		{":alice", "", false},
		{"soon:alice", "", false},
		{"-5:alice", "", false},
		{"+5:alice", "", false},
		{"0:alice", "", false},
		{"99999999999999:alice", "", false},
		{"1700000000:" + string(make([]byte, 300)), "", false},
	} {
		_, id, err := ParseUsername(tc.in)
		if (err == nil) != tc.ok || id != tc.identity {
			t.Errorf("ParseUsername(%.40q) = %q, %v; want %q ok=%v", tc.in, id, err, tc.identity, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadUsername) {
			t.Errorf("ParseUsername(%.40q): %v is not ErrBadUsername", tc.in, err)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:alice", "1:x", "", ":", "1700000000:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		expiry, id, err := ParseUsername(s)
		if err != nil {
			return
		}
		if id == "" || expiry.Unix() <= 0 {
			t.Fatalf("accepted %q as %v %q", s, expiry, id)
		}
		// What parses names the same credential once minted again.
		u, _ := Mint("s", id, 0, expiry)
		if e2, id2, err := ParseUsername(u); err != nil || !e2.Equal(expiry) || id2 != id {
			t.Fatalf("%q parses to %v %q, which mints %q (%v %q %v)", s, expiry, id, u, e2, id2, err)
		}
	})
}
