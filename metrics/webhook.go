package metrics

import "github.com/prometheus/client_golang/prometheus"

// Webhook holds the collectors of webhook delivery. Every series is per
// node, not per URL: URLs may carry credentials and are not labels.
type Webhook struct {
	queued    prometheus.Counter
	delivered prometheus.Counter
	retries   prometheus.Counter
	failed    prometheus.Counter
	dropped   prometheus.Counter
	queue     prometheus.Gauge
}

// NewWebhook builds the webhook collectors and registers them on reg (nil:
// not registered).
func NewWebhook(reg prometheus.Registerer) *Webhook {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Webhook{
		queued:    c("surge_webhook_queued_total", "Webhook deliveries queued (one per event per URL)."),
		delivered: c("surge_webhook_delivered_total", "Webhook deliveries answered with 2xx."),
		retries:   c("surge_webhook_retries_total", "Webhook attempts after a failed one."),
		failed:    c("surge_webhook_failed_total", "Webhook deliveries given up after webhook.max_attempts, or refused by the receiver with a 4xx."),
		dropped:   c("surge_webhook_dropped_total", "Webhook deliveries dropped because the URL's queue (webhook.queue_size) was full or the server was stopping."),
		queue:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "surge_webhook_queue_length", Help: "Webhook deliveries waiting, summed over URLs."}),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.delivered, m.retries, m.failed, m.dropped, m.queue)
	}
	return m
}

// Queued is surge_webhook_queued_total.
func (m *Webhook) Queued() prometheus.Counter { return m.queued }

// Delivered is surge_webhook_delivered_total.
func (m *Webhook) Delivered() prometheus.Counter { return m.delivered }

// Retries is surge_webhook_retries_total.
func (m *Webhook) Retries() prometheus.Counter { return m.retries }

// Failed is surge_webhook_failed_total.
func (m *Webhook) Failed() prometheus.Counter { return m.failed }

// Dropped is surge_webhook_dropped_total.
func (m *Webhook) Dropped() prometheus.Counter { return m.dropped }

// QueueLength is surge_webhook_queue_length.
func (m *Webhook) QueueLength() prometheus.Gauge { return m.queue }
