package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/auth"
)

func runToken(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs(append([]string{"token"}, args...))
	err := root.Execute()
	return stdout.String(), err
}

func verify(t *testing.T, out string, keys map[string]string) auth.Grant {
	t.Helper()
	if strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
		t.Fatalf("stdout is not exactly one JWT line: %q", out)
	}
	g, err := auth.NewVerifier(keys, nil).Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTokenWithDevKeyRoundTrips(t *testing.T) {
	out, err := runToken(t, "--room", "demo", "--identity", "alice", "--publish=false")
	if err != nil {
		t.Fatal(err)
	}
	g := verify(t, out, map[string]string{auth.DevAPIKey: auth.DevAPISecret})
	if want := (auth.Grant{Room: "demo", Identity: "alice", CanPublish: false, CanSubscribe: true}); g != want {
		t.Errorf("grant = %+v, want %+v", g, want)
	}
}

func TestTokenWithExplicitKey(t *testing.T) {
	out, err := runToken(t, "--room", "r", "--identity", "bob", "--api-key", "APIk", "--api-secret", "sek")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, out, map[string]string{"APIk": "sek"})
}

func TestTokenUsesConfiguredKeys(t *testing.T) {
	t.Setenv("SURGE_KEYS", "APIenv:envsecret")
	out, err := runToken(t, "--room", "r", "--identity", "carol")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, out, map[string]string{"APIenv": "envsecret"})

	path := writeConfig(t, "keys: [\"APIa:sa\", \"APIb:sb\"]\n")
	t.Setenv("SURGE_KEYS", "")
	if _, err := runToken(t, "--config", path, "--room", "r", "--identity", "dan"); err == nil {
		t.Error("two configured keys and no --api-key: want an error asking to choose")
	}
	out, err = runToken(t, "--config", path, "--room", "r", "--identity", "dan", "--api-key", "APIb")
	if err != nil {
		t.Fatal(err)
	}
	verify(t, out, map[string]string{"APIb": "sb"})
}

func TestTokenTTL(t *testing.T) {
	out, err := runToken(t, "--room", "r", "--identity", "eve", "--ttl", "1m")
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	_, err = auth.NewVerifier(map[string]string{auth.DevAPIKey: auth.DevAPISecret}, later).Verify(strings.TrimSpace(out))
	if err == nil {
		t.Error("a 1m token still verifies 2m later")
	}
}

func TestTokenNeedsRoomAndIdentity(t *testing.T) {
	if _, err := runToken(t, "--identity", "x"); err == nil {
		t.Error("no --room accepted")
	}
	if _, err := runToken(t, "--room", "x", "--api-secret", "s"); err == nil {
		t.Error("--api-secret without --api-key accepted")
	}
}

func TestVersionNamesBuild(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "surge "+version+"\ngo go1.") {
		t.Errorf("version output %q", out.String())
	}
}

// Issue 15, harm 5: `surge token --ttl=-1h` printed an expired token.
func TestTokenRefusesNonPositiveTTL(t *testing.T) {
	for _, ttl := range []string{"-1h", "0s"} {
		out, err := runToken(t, "--room", "r", "--identity", "a", "--ttl="+ttl)
		if err == nil || !strings.Contains(err.Error(), "positive") {
			t.Errorf("--ttl=%s: err = %v, want a refusal that says the TTL must be positive", ttl, err)
		}
		if out != "" {
			t.Errorf("--ttl=%s printed %q", ttl, out)
		}
	}
}
