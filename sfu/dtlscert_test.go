package sfu

import (
	"testing"
	"time"
)

// Every PeerConnection of a node shares one certificate until it is a day
// old; the next one after that gets a new key, and the old one is still
// valid for weeks for the PeerConnections that hold it.
func TestDTLSCertsRenewDaily(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := newDTLSCerts(func() time.Time { return now })
	fingerprint := func() string {
		t.Helper()
		cfg, err := c.pcConfig()
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Certificates) != 1 {
			t.Fatalf("%d certificates, want 1", len(cfg.Certificates))
		}
		fps, err := cfg.Certificates[0].GetFingerprints()
		if err != nil {
			t.Fatal(err)
		}
		if left := time.Until(cfg.Certificates[0].Expires()); left < 7*24*time.Hour {
			t.Fatalf("certificate expires in %v", left)
		}
		return fps[0].Value
	}
	first := fingerprint()
	for _, step := range []struct {
		advance time.Duration
		renewed bool
	}{
		{0, false},
		{time.Hour, false},
		{certRenew - time.Hour - time.Second, false},
		{time.Second, true},
		{time.Minute, false},
	} {
		now = now.Add(step.advance)
		fp := fingerprint()
		if renewed := fp != first; renewed != step.renewed {
			t.Fatalf("after +%v: renewed %v, want %v", step.advance, renewed, step.renewed)
		}
		first = fp
	}
}
