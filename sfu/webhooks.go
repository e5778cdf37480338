package sfu

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/surgertc/surge/metrics"
	"github.com/surgertc/surge/sfu/webhook"
)

// WebhookConfig configures the room event webhooks (docs/webhooks.md).
type WebhookConfig struct {
	// URLs receive every event as a signed POST; none disables webhooks.
	URLs []string `mapstructure:"urls"`
	// APIKey names the key of Keys whose secret signs the requests; empty
	// picks the only configured key (or the dev key).
	APIKey string `mapstructure:"api_key"`
	// QueueSize bounds the deliveries waiting per URL; more are dropped.
	QueueSize int `mapstructure:"queue_size"`
	// Timeout bounds one attempt.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxAttempts is the number of tries per delivery, the first included.
	MaxAttempts int `mapstructure:"max_attempts"`
	// Backoff is the wait after the first failed attempt; it doubles per
	// failure up to 30s.
	Backoff time.Duration `mapstructure:"backoff"`
}

// DefaultWebhookConfig disables webhooks but has working limits.
func DefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{QueueSize: 1024, Timeout: 5 * time.Second, MaxAttempts: 6, Backoff: 500 * time.Millisecond}
}

// signer returns the API key and secret that sign webhooks.
func (c *Config) webhookSigner() (key, secret string, err error) {
	keys := c.keys()
	if c.Webhook.APIKey != "" {
		s, ok := keys[c.Webhook.APIKey]
		if !ok {
			return "", "", fmt.Errorf("%w: webhook.api_key %q is not one of the configured keys", ErrConfig, c.Webhook.APIKey)
		}
		return c.Webhook.APIKey, s, nil
	}
	if len(keys) != 1 {
		return "", "", fmt.Errorf("%w: %d keys are configured; set webhook.api_key to the one that signs webhooks", ErrConfig, len(keys))
	}
	for k, s := range keys {
		key, secret = k, s
	}
	return key, secret, nil
}

func (c *Config) validateWebhook() error {
	w := &c.Webhook
	if len(w.URLs) == 0 {
		return nil
	}
	for _, raw := range w.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: webhook.urls: %q is not an http(s) URL", ErrConfig, raw)
		}
	}
	if w.QueueSize < 1 || w.Timeout <= 0 || w.MaxAttempts < 1 || w.Backoff <= 0 {
		return fmt.Errorf("%w: webhook needs queue_size >= 1, max_attempts >= 1 and positive timeout and backoff", ErrConfig)
	}
	_, _, err := c.webhookSigner()
	return err
}

// startWebhooks builds the notifier when URLs are configured; nil otherwise
// (then emit is a no-op).
func (s *Server) startWebhooks() {
	m := metrics.NewWebhook(s.reg)
	if len(s.cfg.Webhook.URLs) == 0 {
		return
	}
	key, secret, _ := s.cfg.webhookSigner() // checked by Validate
	w := s.cfg.Webhook
	s.hooks = webhook.New(webhook.Config{
		URLs: w.URLs, APIKey: key, Secret: secret,
		QueueSize: w.QueueSize, Timeout: w.Timeout, MaxAttempts: w.MaxAttempts, Backoff: w.Backoff,
	}, s.log.With("component", "webhook"), m)
	s.hooks.Start()
}

// stopWebhooks delivers what is queued for at most one attempt timeout, so
// room_finished of a shutdown still goes out but a dead receiver cannot
// hold the exit.
func (s *Server) stopWebhooks() {
	if s.hooks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Webhook.Timeout)
	defer cancel()
	s.hooks.Close(ctx)
}

// emit queues an event; it never blocks (see webhook.Notifier.Notify).
func (s *Server) emit(kind string, r *Room, p *Participant, t *Receiver) {
	if s.hooks == nil {
		return
	}
	ev := webhook.Event{ID: newID("EV_"), Event: kind, CreatedAt: time.Now(), Room: webhook.Room{Name: r.name, CreatedAt: r.created}}
	if p != nil {
		ev.Part = &webhook.Participant{ID: p.id, Identity: p.grant.Identity}
	}
	if t != nil {
		ev.Track = &webhook.Track{ID: t.id, Kind: t.kind.String(), Codec: t.codec.MimeType}
	}
	s.hooks.Notify(ev)
}
