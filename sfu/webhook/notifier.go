package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgertc/surge/metrics"
)

// Config is a Notifier's configuration; package sfu fills it from
// webhook.* and the API key chosen to sign.
type Config struct {
	URLs           []string
	APIKey, Secret string
	// QueueSize bounds the deliveries waiting per URL; beyond it new events
	// for that URL are dropped (and counted), never waited for.
	QueueSize int
	// Timeout bounds one attempt (connect, send, response headers).
	Timeout time.Duration
	// MaxAttempts is the number of tries of one delivery, the first included.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles per failure.
	Backoff time.Duration
}

// Notifier posts events to every configured URL.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics.Webhook
	client  *http.Client
	targets []*target

	stopping chan struct{} // closed by Close: deliver what is queued, then exit
	closed   atomic.Bool
	ctx      context.Context // cancelled when Close gives up waiting
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type target struct {
	url string
	q   chan Event
}

// New builds a Notifier; Start launches its delivery goroutines.
func New(cfg Config, log *slog.Logger, m *metrics.Webhook) *Notifier {
	n := &Notifier{
		cfg:      cfg,
		log:      log,
		m:        m,
		client:   &http.Client{Timeout: cfg.Timeout},
		stopping: make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, u := range cfg.URLs {
		n.targets = append(n.targets, &target{url: u, q: make(chan Event, cfg.QueueSize)})
	}
	return n
}

// Start launches one delivery goroutine per URL; Close ends them.
func (n *Notifier) Start() {
	for _, t := range n.targets {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.run(t)
		}()
	}
}

// Notify queues ev for every URL without ever blocking: a full queue drops
// the event for that URL and counts it (surge_webhook_dropped_total).
func (n *Notifier) Notify(ev Event) {
	for _, t := range n.targets {
		if n.closed.Load() {
			n.m.Dropped().Inc()
			continue
		}
		select {
		case t.q <- ev:
			n.m.Queued().Inc()
			n.m.QueueLength().Inc()
		default:
			n.m.Dropped().Inc()
		}
	}
}

// Close stops accepting events, delivers what is queued until ctx ends,
// then abandons the rest (counted as dropped) and waits for its goroutines.
func (n *Notifier) Close(ctx context.Context) {
	if n.closed.Swap(true) {
		return
	}
	close(n.stopping)
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
	for _, t := range n.targets {
		for len(t.q) > 0 { // nobody sends any more: closed is set
			<-t.q
			n.m.QueueLength().Dec()
			n.m.Dropped().Inc()
		}
	}
}

func (n *Notifier) run(t *target) {
	for {
		select {
		case ev := <-t.q:
			n.m.QueueLength().Dec()
			n.deliver(t, ev)
		case <-n.stopping:
			for { // drain: what was queued before Close still goes out
				select {
				case ev := <-t.q:
					n.m.QueueLength().Dec()
					n.deliver(t, ev)
					if n.ctx.Err() != nil {
						return
					}
				default:
					return
				}
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// errPermanent marks a refusal that a retry cannot fix.
var errPermanent = errors.New("refused by the receiver")

// deliver posts one event, retrying with backoff, and logs the outcome once.
func (n *Notifier) deliver(t *target, ev Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		n.m.Failed().Inc()
		n.log.Error("webhook: encode event", "event", ev.Event, "err", err)
		return
	}
	for attempt := 1; ; attempt++ {
		err = n.post(t.url, ev, body)
		if err == nil {
			n.m.Delivered().Inc()
			return
		}
		if errors.Is(err, errPermanent) || attempt >= n.cfg.MaxAttempts || n.ctx.Err() != nil {
			n.m.Failed().Inc()
			n.log.Warn("webhook delivery failed", "url", redactURL(t.url), "event", ev.Event, "id", ev.ID, "attempts", attempt, "err", err)
			return
		}
		wait := time.NewTimer(Backoff(attempt, n.cfg.Backoff, 0.5+rand.Float64()))
		select {
		case <-wait.C:
		case <-n.ctx.Done():
			wait.Stop()
			n.m.Failed().Inc()
			return
		}
		n.m.Retries().Inc()
	}
}

func (n *Notifier) post(target string, ev Event, body []byte) error {
	auth, err := Sign(body, n.cfg.APIKey, n.cfg.Secret, time.Now())
	if err != nil {
		return fmt.Errorf("%w: signing: %v", errPermanent, err)
	}
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("User-Agent", "surge-webhook")
	req.Header.Set("Surge-Event", ev.Event)
	req.Header.Set("Surge-Event-Id", ev.ID)
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: HTTP %d", errPermanent, resp.StatusCode)
	}
}

// redactURL keeps credentials in a URL (user:pass@, ?token=) out of logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}
