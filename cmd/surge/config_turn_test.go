package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/turn"
)

func TestTURNConfigFromEnvironment(t *testing.T) {
	t.Setenv("SURGE_TURN_ENABLED", "true")
	t.Setenv("SURGE_TURN_SECRET", "s3cret")
	t.Setenv("SURGE_TURN_ALLOWED_PEERS", "10.1.0.0/16, 192.168.1.5:4000")
	t.Setenv("SURGE_TURN_EXTERNAL", `[{"urls":["turn:turn.example.com:3478?transport=udp"],"secret":"coturn"}]`)
	t.Setenv("SURGE_RTC_TCP_ADDR", "127.0.0.1:7883")
	fc, err := loadConfig("", newServeCmd().Flags())
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	tc := fc.TURN
	if !tc.Enabled || tc.Secret != "s3cret" || fc.RTC.TCPAddr != "127.0.0.1:7883" {
		t.Errorf("turn %+v, rtc.tcp_addr %q", tc, fc.RTC.TCPAddr)
	}
	if want := []string{"10.1.0.0/16", "192.168.1.5:4000"}; !reflect.DeepEqual(tc.AllowedPeers, want) {
		t.Errorf("allowed_peers %v, want %v", tc.AllowedPeers, want)
	}
	if want := []turn.External{{URLs: []string{"turn:turn.example.com:3478?transport=udp"}, Secret: "coturn"}}; !reflect.DeepEqual(tc.External, want) {
		t.Errorf("external %+v, want %+v", tc.External, want)
	}
}

func TestTURNConfigMistakes(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"public TURN with the dev key":    {"SURGE_TURN_ENABLED": "true", "SURGE_TURN_UDP_ADDR": "0.0.0.0:3478", "SURGE_TURN_RELAY_IP": "192.0.2.10"},
		"public ICE-TCP with the dev key": {"SURGE_RTC_TCP_ADDR": "0.0.0.0:7883"},
		"loopback relay on a public port": {"SURGE_KEYS": "APIk:s", "SURGE_TURN_ENABLED": "true", "SURGE_TURN_UDP_ADDR": "0.0.0.0:3478"},
		"external without a secret":       {"SURGE_TURN_EXTERNAL": `[{"urls":["turn:x:3478"]}]`},
		"a bad allowed peer":              {"SURGE_TURN_ENABLED": "true", "SURGE_TURN_ALLOWED_PEERS": "intranet"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			fc, err := loadConfig("", newServeCmd().Flags())
			if err != nil {
				t.Fatal(err)
			}
			if err := fc.Validate(); !errors.Is(err, sfu.ErrConfig) && !errors.Is(err, sfu.ErrDevKeyExposed) {
				t.Errorf("Validate = %v, want a configuration error", err)
			}
		})
	}
}
