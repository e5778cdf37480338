package loadbot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/surgertc/surge/sfu/signal"
)

// signalProxy relays signaling between bots and an SFU, passing what the SFU
// sends through filter (which may rewrite a message or drop it).
type signalProxy struct {
	srv    *httptest.Server
	wg     sync.WaitGroup
	filter func(signal.Message) (signal.Message, bool)
}

func newSignalProxy(t *testing.T, upstream string, filter func(signal.Message) (signal.Message, bool)) *signalProxy {
	t.Helper()
	p := &signalProxy{filter: filter}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.wg.Add(1)
		defer p.wg.Done()
		down, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer down.CloseNow()
		down.SetReadLimit(signal.MaxMessageBytes)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		up, _, err := websocket.Dial(ctx, upstream, nil)
		if err != nil {
			return
		}
		defer up.CloseNow()
		up.SetReadLimit(signal.MaxMessageBytes)
		go func() {
			defer cancel()
			for {
				typ, data, err := down.Read(ctx)
				if err != nil || up.Write(ctx, typ, data) != nil {
					return
				}
			}
		}()
		for {
			_, data, err := up.Read(ctx)
			if err != nil {
				return
			}
			var m signal.Message
			if json.Unmarshal(data, &m) == nil {
				var keep bool
				if m, keep = p.filter(m); !keep {
					continue
				}
				data, _ = json.Marshal(m)
			}
			if down.Write(ctx, websocket.MessageText, data) != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.wg.Wait()
	})
	return p
}

func (p *signalProxy) url() string { return "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/rtc" }

// stripCandidates removes every candidate line from an SDP.
func stripCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, "a=candidate") && !strings.HasPrefix(l, "a=end-of-candidates") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// A publisher bot offers, so it is the controlling ICE agent. The SFU's
// first check often reaches it before the SFU's trickled candidate; Pion
// then knows the SFU only as a peer-reflexive candidate and, by default,
// waits a second before nominating that pair. Browsers do not. The proxy
// here hides the SFU's publish-side candidates from the bots, forcing the
// case for every publisher.
func TestPublisherKnowingTheSFUOnlyByItsChecksJoinsAtOnce(t *testing.T) {
	s := startSFU(t)
	proxy := newSignalProxy(t, s.URL(), func(m signal.Message) (signal.Message, bool) {
		if m.Target != signal.TargetPublisher {
			return m, true
		}
		switch m.Type {
		case signal.TypeCandidate:
			return m, false
		case signal.TypeAnswer:
			m.SDP = stripCandidates(m.SDP)
		}
		return m, true
	})
	cfg := testConfig(s)
	cfg.URL = proxy.url()
	cfg.Rooms, cfg.Publishers, cfg.Subscribers = 3, 1, 0
	cfg.Duration = 2 * time.Second
	res := runWithin(t, cfg)

	// The fastest of three: the race detector or a busy machine may slow
	// one join, but without the fix none is faster than Pion's wait.
	const pionPrflxWait = 1000.0 // ms
	fastest := 1e9
	for _, r := range res.Report.Rooms {
		for _, b := range r.Bots {
			if b.JoinFailure != "" {
				t.Fatalf("%s did not join: %s", b.ID, b.JoinFailure)
			}
			t.Logf("%s joined in %.0f ms", b.ID, b.JoinMs)
			fastest = min(fastest, b.JoinMs)
		}
	}
	if fastest >= pionPrflxWait {
		t.Fatalf("the fastest publisher took %.0f ms to connect: it waited to nominate a peer-reflexive pair", fastest)
	}
}
