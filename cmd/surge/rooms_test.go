package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu"
	"github.com/surgertc/surge/sfu/auth"
	"github.com/surgertc/surge/sfu/signal"
)

func startSFU(t *testing.T, mutate func(*sfu.Config)) *sfu.Server {
	t.Helper()
	cfg := sfu.DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := sfu.NewServer(cfg, sfu.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// joinWS joins room as identity over signaling only (no media) and returns
// the socket; the server keeps the participant while the socket is open.
func joinWS(t *testing.T, url, room, identity string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	tok, _ := auth.Mint(auth.DevAPIKey, auth.DevAPISecret, auth.Grant{Room: room, Identity: identity, CanSubscribe: true}, time.Hour, time.Now())
	data, _ := json.Marshal(signal.Message{Type: signal.TypeJoin, Token: tok})
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatal(err)
	}
	_, data, err = c.Read(ctx)
	var m signal.Message
	if err != nil || json.Unmarshal(data, &m) != nil || m.Type != signal.TypeJoined {
		t.Fatalf("join: %s %v", data, err)
	}
	return c
}

func runSurge(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs(args)
	err := root.Execute()
	return stdout.String(), err
}

// TestRoomsCLI: surge rooms lists, inspects, removes and closes against a
// live node, minting its own admin token or using one from surge token --admin.
func TestRoomsCLI(t *testing.T) {
	srv := startSFU(t, nil)
	url := srv.URL()
	joinWS(t, url, "standup", "alice")
	bob := joinWS(t, url, "standup", "bob")

	out, err := runSurge(t, "rooms", "list", "--url", url)
	if err != nil || !strings.Contains(out, "standup") || !strings.Contains(out, "PARTICIPANTS") {
		t.Fatalf("rooms list: %q, %v", out, err)
	}
	tok, err := runSurge(t, "token", "--admin")
	if err != nil {
		t.Fatal(err)
	}
	if g := verify(t, tok, map[string]string{auth.DevAPIKey: auth.DevAPISecret}); !g.Admin || g.Room != "" || g.CanPublish || g.CanSubscribe {
		t.Fatalf("surge token --admin grants %+v", g)
	}
	out, err = runSurge(t, "rooms", "participants", "standup", "--url", url, "--token", strings.TrimSpace(tok), "--json")
	var ps []struct{ Identity string }
	if err != nil || json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 2 || ps[0].Identity != "alice" || ps[1].Identity != "bob" {
		t.Fatalf("rooms participants --json: %q, %v", out, err)
	}
	if _, err := runSurge(t, "rooms", "remove", "standup", "bob", "--url", url); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, _ := bob.Read(ctx)
	if !strings.Contains(string(data), `"removed"`) {
		t.Fatalf("bob got %s, want leave with code removed", data)
	}
	if _, err := runSurge(t, "rooms", "close", "standup", "--url", url); err != nil {
		t.Fatal(err)
	}
	out, err = runSurge(t, "rooms", "list", "--url", url, "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("rooms list after close: %q, %v", out, err)
	}
	if _, err := runSurge(t, "rooms", "close", "standup", "--url", url); err == nil || !strings.Contains(err.Error(), "room_not_found") {
		t.Fatalf("closing a closed room: %v, want room_not_found", err)
	}
}
