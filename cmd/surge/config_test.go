package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/surgertc/surge/sfu/signal"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sfu.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The documented order is defaults < file < env < flag; one key per level
// proves each level beats the one below it.
func TestConfigPrecedenceDefaultsFileEnvFlag(t *testing.T) {
	path := writeConfig(t, `
listen_addr: 127.0.0.1:9000
room:
  max_participants: 50
signal:
  ping_interval: 5s
`)
	t.Setenv("SURGE_ROOM_MAX_PARTICIPANTS", "60")
	t.Setenv("SURGE_SIGNAL_PING_INTERVAL", "6s")
	cmd := newServeCmd()
	if err := cmd.Flags().Parse([]string{"--signal.ping_interval=7s"}); err != nil {
		t.Fatal(err)
	}
	fc, err := loadConfig(path, cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	def := defaultFileConfig()
	if fc.DrainTimeout != def.DrainTimeout {
		t.Errorf("default: drain_timeout = %v, want %v", fc.DrainTimeout, def.DrainTimeout)
	}
	if fc.ListenAddr != "127.0.0.1:9000" {
		t.Errorf("file over default: listen_addr = %q", fc.ListenAddr)
	}
	if fc.Room.MaxParticipants != 60 {
		t.Errorf("env over file: room.max_participants = %d, want 60", fc.Room.MaxParticipants)
	}
	if fc.Signal.PingInterval != 7*time.Second {
		t.Errorf("flag over env: signal.ping_interval = %v, want 7s", fc.Signal.PingInterval)
	}
}

func TestConfigWithoutFileIsDefault(t *testing.T) {
	fc, err := loadConfig("", newServeCmd().Flags())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fc, defaultFileConfig()) {
		t.Errorf("got %+v, want the defaults", fc)
	}
}

// configs/sfu.yaml documents the defaults; if it drifts from
// sfu.DefaultConfig (or stops loading), operators are misled.
func TestShippedConfigLoadsAndMatchesDefaults(t *testing.T) {
	fc, err := loadConfig(filepath.Join("..", "..", "configs", "sfu.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	got, want := configFields(reflect.ValueOf(fc)), configFields(reflect.ValueOf(defaultFileConfig()))
	for i := range want {
		g, w := got[i].Default, want[i].Default
		if isEmptyCollection(g) && isEmptyCollection(w) {
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("configs/sfu.yaml %s = %v, default is %v", want[i].Key, g, w)
		}
	}
}

func isEmptyCollection(v reflect.Value) bool {
	return (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("SURGE_KEYS", "APIone:s1, APItwo:s:2")
	t.Setenv("SURGE_RTC_NAT_1TO1_IPS", "203.0.113.1,203.0.113.2")
	t.Setenv("SURGE_RTC_ICE_SERVERS", `[{"urls":["turn:turn.example.com:3478"],"username":"u","credential":"c"}]`)
	t.Setenv("SURGE_RTC_H264", "true")
	t.Setenv("SURGE_LOG_FORMAT", "json")
	fc, err := loadConfig("", newServeCmd().Flags())
	if err != nil {
		t.Fatal(err)
	}
	// Case is kept (API keys are JWT issuers) and a secret may hold a colon.
	if want := map[string]string{"APIone": "s1", "APItwo": "s:2"}; !reflect.DeepEqual(fc.Keys, want) {
		t.Errorf("keys = %v, want %v", fc.Keys, want)
	}
	if want := []string{"203.0.113.1", "203.0.113.2"}; !reflect.DeepEqual(fc.RTC.NAT1To1IPs, want) {
		t.Errorf("rtc.nat_1to1_ips = %v", fc.RTC.NAT1To1IPs)
	}
	if want := []signal.ICEServer{{URLs: []string{"turn:turn.example.com:3478"}, Username: "u", Credential: "c"}}; !reflect.DeepEqual(fc.RTC.ICEServers, want) {
		t.Errorf("rtc.ice_servers = %+v", fc.RTC.ICEServers)
	}
	if !fc.RTC.H264 || fc.Log.Format != "json" {
		t.Errorf("rtc.h264 = %v, log.format = %q", fc.RTC.H264, fc.Log.Format)
	}
}

func TestConfigFileListsAndFlags(t *testing.T) {
	path := writeConfig(t, `
keys:
  - "APIfile:secret"
rtc:
  ice_servers:
    - urls: ["stun:stun.example.com:3478"]
`)
	fc, err := loadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"APIfile": "secret"}; !reflect.DeepEqual(fc.Keys, want) {
		t.Errorf("keys = %v", fc.Keys)
	}
	if len(fc.RTC.ICEServers) != 1 || fc.RTC.ICEServers[0].URLs[0] != "stun:stun.example.com:3478" {
		t.Errorf("rtc.ice_servers = %+v", fc.RTC.ICEServers)
	}

	cmd := newServeCmd()
	if err := cmd.Flags().Parse([]string{"--keys=APIflag:x", "--rtc.nat_1to1_ips=198.51.100.7", "--rtc.h264"}); err != nil {
		t.Fatal(err)
	}
	fc, err = loadConfig(path, cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"APIflag": "x"}; !reflect.DeepEqual(fc.Keys, want) {
		t.Errorf("flag keys = %v", fc.Keys)
	}
	if !fc.RTC.H264 || len(fc.RTC.NAT1To1IPs) != 1 {
		t.Errorf("flags not applied: %+v", fc.RTC)
	}
}

func TestConfigRejectsMistakes(t *testing.T) {
	for name, yaml := range map[string]string{
		"typo":          "listen_adr: 127.0.0.1:1\n",
		"keys mapping":  "keys:\n  APIx: secret\n",
		"bad key pair":  "keys: [\"nosecret\"]\n",
		"bad duration":  "drain_timeout: soon\n",
		"unknown table": "rtcc:\n  h264: true\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := loadConfig(writeConfig(t, yaml), nil); err == nil {
				t.Error("loaded without error")
			}
		})
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("missing file loaded without error")
	}
}

// A key-pair error must not echo the secret into logs.
func TestKeyPairErrorRedactsSecret(t *testing.T) {
	_, err := decodeKeyPairs([]string{"APIx:"})
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("err = %v", err)
	}
	_, err = decodeKeyPairs("supersecret")
	if err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigPathFromEnvironment(t *testing.T) {
	path := writeConfig(t, "listen_addr: 127.0.0.1:9100\n")
	t.Setenv("SURGE_CONFIG", path)
	cmd := newRootCmd(nil, nil)
	serve, _, err := cmd.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if got := configPath(serve); got != path {
		t.Fatalf("configPath = %q, want $SURGE_CONFIG", got)
	}
}

// TestEveryKeyIsDocumented: a key missing from configs/sfu.yaml or from the
// README's configuration table is a key operators cannot find.
func TestEveryKeyIsDocumented(t *testing.T) {
	yaml, err := os.ReadFile(filepath.Join("..", "..", "configs", "sfu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configFields(reflect.ValueOf(defaultFileConfig())) {
		leaf := f.Key[strings.LastIndex(f.Key, ".")+1:]
		if !regexp.MustCompile(`(?m)^[ #]*` + regexp.QuoteMeta(leaf) + `:`).Match(yaml) {
			t.Errorf("configs/sfu.yaml does not mention %s", f.Key)
		}
		if !strings.Contains(string(readme), "| `"+f.Key+"` |") {
			t.Errorf("README's configuration table has no row for %s", f.Key)
		}
	}
}
