package loadbot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/surgertc/surge/loadbot/report"
	"github.com/surgertc/surge/loadbot/stats"
	"github.com/surgertc/surge/metrics"
)

// Runner runs load scenarios. It is used once per Run or Ramp call and
// holds no state between them beyond its options.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics.Loadbot
	progress io.Writer
	tty      bool
	now      func() time.Time

	packetHook func(b *bot, kind stats.Kind, pkt *rtp.Packet, now time.Time)
}

// Option configures a Runner.
type Option func(*Runner)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

// WithMetrics exports the run's live numbers on m (default: collectors
// registered nowhere).
func WithMetrics(m *metrics.Loadbot) Option { return func(r *Runner) { r.metrics = m } }

// WithProgress writes a progress line to w every ProgressInterval. On a
// terminal (tty) the line is rewritten in place with \r; otherwise each
// update is its own line, which suits logs and CI.
func WithProgress(w io.Writer, tty bool) Option {
	return func(r *Runner) { r.progress, r.tty = w, tty }
}

// NewRunner validates cfg. An empty InstanceID gets a random one, so bots
// of concurrent loadbot processes never share an identity.
func NewRunner(cfg Config, opts ...Option) (*Runner, error) {
	if cfg.InstanceID == "" {
		cfg.InstanceID = RandomInstanceID()
	}
	if cfg.RoomPrefix == "" {
		cfg.RoomPrefix = "load"
	}
	if cfg.ScrapeInterval <= 0 {
		cfg.ScrapeInterval = time.Second
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if r.metrics == nil {
		r.metrics = metrics.NewLoadbot(nil, nil)
	}
	return r, nil
}

// Config returns the configuration the runner uses, defaults filled in.
func (r *Runner) Config() Config { return r.cfg }

// RandomInstanceID returns a short random id.
func RandomInstanceID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "lb" + hex.EncodeToString(b[:])
}

// Result is a finished run: the report plus what the report schema has no
// field for yet.
type Result struct {
	Report report.Report
	// Dropped counts sessions that ended before the run did, after a
	// successful join, by reason (server_gone, pc_failed, server_draining…).
	Dropped map[string]int
	// Warnings are things the reader should know, e.g. that loadbot
	// itself was the bottleneck or the SFU could not be scraped.
	Warnings []string
}

// Run starts the configured bots, keeps them for Duration and reports.
// It returns within Duration + Grace. Canceling ctx ends the run early with
// a partial report; an error means no report could be made at all.
func (r *Runner) Run(ctx context.Context) (*Result, error) {
	load := report.Load{Rooms: r.cfg.Rooms, Publishers: r.cfg.Publishers, Subscribers: r.cfg.Subscribers}
	res, err := r.runSteps(ctx, "run", func(m *measure) error {
		sess := m.sess
		sess.grow(m.runCtx, load, sess.plan(load))
		<-m.runCtx.Done()
		return nil
	})
	return res, err
}

// measure is the machinery of one run or ramp: session, sampler, scraper.
type measure struct {
	r       *Runner
	env     *env
	sess    *session
	scraper *sfuScraper
	start   time.Time
	runCtx  context.Context // ends at Duration or when the caller cancels

	mu        sync.Mutex
	timeline  []report.Point
	prevAgg   stats.Aggregate
	cpu       *metrics.CPUSampler // per tick
	lastCPU   float64
	rampSteps []report.Step
}

// runSteps sets up a session and the measuring goroutines, calls body, then
// stops everything and builds the report.
func (r *Runner) runSteps(ctx context.Context, mode string, body func(*measure) error) (*Result, error) {
	e, err := newEnv(r.cfg, r.log, r.metrics)
	if err != nil {
		return nil, err
	}
	e.packetHook = r.packetHook
	defer e.close()
	m := &measure{r: r, env: e, sess: newSession(e), start: r.now()}
	if cpu, err := metrics.NewCPUSampler(m.start); err == nil {
		m.cpu = cpu
	}
	runCPU, _ := metrics.NewCPUSampler(m.start)

	duration := r.cfg.Duration
	if mode == "ramp" {
		duration = 0 // the ramp bounds itself step by step
	}
	var cancel context.CancelFunc
	if duration > 0 {
		m.runCtx, cancel = context.WithTimeout(ctx, duration)
	} else {
		m.runCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	if r.cfg.SFUMetricsURL != "" {
		m.scraper = newSFUScraper(r.cfg.SFUMetricsURL, r.cfg.ScrapeInterval)
		bgWG.Add(1)
		go func() { defer bgWG.Done(); m.scraper.run(bg, r.cfg.ScrapeInterval) }()
	}
	bgWG.Add(1)
	go func() { defer bgWG.Done(); m.tickLoop(bg) }()

	bodyErr := body(m)
	partial := ctx.Err() != nil
	allStopped := m.sess.stop(r.cfg.Grace)
	m.tick(r.now()) // the last interval, after Finish declared the stragglers lost
	stopBG()
	bgWG.Wait()
	if m.scraper != nil {
		m.scraper.client.CloseIdleConnections()
	}
	if r.progress != nil && r.tty {
		fmt.Fprintln(r.progress)
	}

	end := r.now()
	in := report.Input{
		Scenario:   r.scenario(mode),
		StartedAt:  m.start,
		EndedAt:    end,
		Partial:    partial || bodyErr != nil,
		TargetBots: m.sess.target().Bots(),
		SLO:        r.cfg.SLO.report(),
	}
	var dropped map[string]int
	in.Rooms, dropped = m.sess.inputs()
	m.mu.Lock()
	in.Timeline = m.timeline
	m.mu.Unlock()
	res := &Result{Dropped: dropped}
	if m.scraper != nil {
		var warn string
		in.SFU, warn = m.scraper.input()
		if warn != "" {
			res.Warnings = append(res.Warnings, warn)
		}
	}
	if runCPU != nil {
		in.Loadbot = report.LoadbotInput{CPUCores: runCPU.Sample(end), Cores: runtime.GOMAXPROCS(0)}
	}
	if steps := m.steps(); len(steps) > 0 {
		in.Steps = steps
	}
	res.Report = report.Build(in)
	if res.Report.Summary.Loadbot.Bottleneck {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"loadbot used %.2f of its %d cores: it was the bottleneck, the numbers measure loadbot as much as the SFU; run fewer bots per process",
			in.Loadbot.CPUCores, in.Loadbot.Cores))
	}
	if !allStopped {
		res.Warnings = append(res.Warnings, "some bots did not stop within the grace period")
	}
	return res, bodyErr
}

// tickLoop updates the timeline, live metrics and progress line.
func (m *measure) tickLoop(ctx context.Context) {
	t := time.NewTicker(m.r.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.tick(now)
		}
	}
}

func (m *measure) tick(now time.Time) {
	agg := m.sess.aggregate()
	m.mu.Lock()
	defer m.mu.Unlock()
	interval := agg.Sub(&m.prevAgg)
	m.prevAgg = agg
	sfuCores := -1.0
	if m.scraper != nil {
		sfuCores = m.scraper.coresNow()
	}
	up := int(m.env.up.Load())
	m.timeline = append(m.timeline, report.NewPoint(now.Sub(m.start), up, &interval, max(sfuCores, 0)))

	lm := m.r.metrics
	lm.AddLost(int(interval.PacketsLost))
	if n := interval.FreezeCount; n > 0 {
		for i := 0; i < n; i++ {
			lm.Freeze(interval.FreezeDuration / time.Duration(n))
		}
	}
	lm.AddLayerTime(metrics.LayerQ, interval.LayerTime.Q)
	lm.AddLayerTime(metrics.LayerH, interval.LayerTime.H)
	lm.AddLayerTime(metrics.LayerF, interval.LayerTime.F)
	if m.cpu != nil {
		m.lastCPU = m.cpu.Sample(now)
		lm.SetCPUCores(m.lastCPU)
	}

	if m.r.progress == nil {
		return
	}
	line := report.ProgressLine(report.Progress{
		Elapsed:      now.Sub(m.start),
		BotsUp:       up,
		BotsTarget:   m.sess.target().Bots(),
		JoinsFailed:  int(m.env.failed.Load()),
		LatencyP50Ms: float64(interval.Latency.Quantile(0.5)) / float64(time.Millisecond),
		LatencyP99Ms: float64(interval.Latency.Quantile(0.99)) / float64(time.Millisecond),
		LossPct:      interval.LossPct(),
		SFUCPUCores:  sfuCores,
	})
	if m.r.tty {
		fmt.Fprintf(m.r.progress, "\r%s", line)
	} else {
		fmt.Fprintln(m.r.progress, line)
	}
}

// steps is set by a ramp.
func (m *measure) steps() []report.Step {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rampSteps
}

func (r *Runner) scenario(mode string) report.Scenario {
	c := r.cfg
	return report.Scenario{
		Mode: mode, URL: c.URL, Rooms: c.Rooms, Publishers: c.Publishers, Subscribers: c.Subscribers,
		DurationS: c.Duration.Seconds(), JoinRate: c.JoinRate, Simulcast: c.Simulcast,
		ShapedShare: c.ShapedShare, DownlinkKbps: c.Link.DownlinkKbps, SRTP: true,
		ICETransport: c.ICETransport,
	}
}

// report converts the SLO flags to the report package's limits.
func (s SLO) report() report.SLO {
	return report.SLO{
		MaxP99LatencyMs:   s.P99LatencyMs,
		MaxLossPct:        s.LossPct,
		MaxJoinFailurePct: s.JoinFailurePct,
		MaxFreezesPerMin:  s.FreezesPerMin,
	}
}
