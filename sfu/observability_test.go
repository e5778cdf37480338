package sfu

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/signal"
)

// labelled returns the value of the series of family name whose labels
// include want, and whether it exists.
func labelled(t *testing.T, s *Server, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// value reads an unlabelled series.
func value(t *testing.T, s *Server, name string) float64 {
	t.Helper()
	v, ok := labelled(t, s, name, nil)
	if !ok {
		t.Fatalf("no series %s", name)
	}
	return v
}

// audioRoom has pub publish audio to sub in room and waits until it arrives.
func audioRoom(t *testing.T, s *Server, room string) {
	t.Helper()
	pub := join(t, s, room, "pub")
	sub := join(t, s, room, "sub")
	audio, _, _ := pub.publish()
	ap := startPump(audio, 20*time.Millisecond, 80, 960)
	t.Cleanup(ap.halt)
	eventually(t, 15*time.Second, "the subscriber to get audio", func() bool { return sub.trackCount() >= 1 })
}

func TestBuildInfoAndReadiness(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	s, err := NewServer(cfg, WithVersion("v9.8.7"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Test binaries carry no module list, so pion is "unknown" here; the
	// release test checks the real value on a built binary.
	v, ok := labelled(t, s, "surge_build_info", map[string]string{"version": "v9.8.7", "go": runtime.Version(), "pion": metrics.PionVersion()})
	if !ok || v != 1 {
		t.Fatalf("surge_build_info{version=v9.8.7,go=%s,pion=%s} = %v, %v", runtime.Version(), metrics.PionVersion(), v, ok)
	}
	if g := gauge(t, s, "surge_ready"); g != 1 {
		t.Fatalf("surge_ready = %v before drain", g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Drain(ctx)
	if g := gauge(t, s, "surge_ready"); g != 0 {
		t.Fatalf("surge_ready = %v after drain", g)
	}
}

func stage(t *testing.T, s *Server, family, st string) float64 {
	t.Helper()
	v, ok := labelled(t, s, family, map[string]string{"stage": st})
	if !ok {
		t.Fatalf("no %s{stage=%q}", family, st)
	}
	return v
}

// TestJoinStages: a publisher and a subscriber that get media count through
// every stage; a join that negotiates and then never connects is a failure
// at ice_connected, although it was admitted.
func TestJoinStages(t *testing.T) {
	s := startServer(t, nil)
	audioRoom(t, s, "stages")
	eventually(t, 5*time.Second, "both joins through first_media", func() bool {
		return stage(t, s, "surge_join_stage_total", "first_media") == 2
	})
	for _, st := range []string{"admitted", "ice_connected"} {
		if v := stage(t, s, "surge_join_stage_total", st); v != 2 {
			t.Errorf("surge_join_stage_total{stage=%s} = %v, want 2", st, v)
		}
	}
	if v := stage(t, s, "surge_join_stage_seconds", "first_media"); v != 2 {
		t.Errorf("surge_join_stage_seconds{stage=first_media} has %v samples, want 2", v)
	}

	// Admitted, offers, then vanishes before ICE: a failure, not a success.
	c := dialRaw(t, s)
	c.joinAs(grantToken(t, "stages", "ghost", true, false))
	c.send(signal.Message{Type: signal.TypeOffer, Target: signal.TargetPublisher, SDP: offerSDP(t, webrtc.RTPCodecTypeAudio)})
	if _, ok := c.next(signal.TypeAnswer, 5*time.Second); !ok {
		t.Fatal("no answer to the ghost's offer")
	}
	_ = c.conn.CloseNow()
	eventually(t, 5*time.Second, "the ghost counted as failed at ice_connected", func() bool {
		return stage(t, s, "surge_join_failures_total", "ice_connected") == 1
	})
	if v := stage(t, s, "surge_join_failures_total", "first_media"); v != 0 {
		t.Errorf("surge_join_failures_total{stage=first_media} = %v, want 0", v)
	}
	if v := stage(t, s, "surge_join_stage_total", "admitted"); v != 3 {
		t.Errorf("admitted = %v, want 3 (the ghost was admitted)", v)
	}
}

// syncBuffer is a log sink safe for Pion's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestPionLogsReachSlog(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := pionLoggerFactory{log: log, min: slog.LevelInfo}
	l := f.NewLogger("ice")
	l.Debugf("hidden %d", 1)
	l.Infof("shown %d", 2)
	l.Error("bad")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "msg=\"shown 2\" pion=ice") || !strings.Contains(out, "level=ERROR msg=bad pion=ice") {
		t.Fatalf("pion log routing:\n%s", out)
	}

	// Through a real server: Pion's connection logs arrive, tagged.
	var srvBuf syncBuffer
	cfg := DefaultConfig()
	cfg.ListenAddr, cfg.AdminAddr, cfg.RTC.UDPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	s, err := NewServer(cfg, WithLogger(slog.New(slog.NewTextHandler(&srvBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))), WithPionLogLevel(slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := join(t, s, "pionlog", "alice")
	c.publish()
	eventually(t, 10*time.Second, "a Pion log line in slog", func() bool { return strings.Contains(srvBuf.String(), " pion=") })
}
