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
	clocks     map[string]RoomClock
}

// MaxRoomTimelines bounds the per-room timelines a report carries (the
// first rooms by name order); the run's own timeline covers every room.
const MaxRoomTimelines = 64

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

// WithRoomClocks says how this process's subscribers time each room's
// publishers (a coordinated run's agents get it from the coordinator);
// rooms not named are all in this process.
func WithRoomClocks(c map[string]RoomClock) Option { return func(r *Runner) { r.clocks = c } }

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
	if err := cfg.Share.Validate(); err != nil {
		return nil, err
	}
	var err error
	if cfg.URL, err = NormalizeURL(cfg.URL); err != nil {
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

// runSettled starts the bots, waits until every one has joined or failed
// (at most JoinTimeout), then holds them for hold: a probe's media window
// starts when its bots are in, however long joining took.
func (r *Runner) runSettled(ctx context.Context, mode string, hold time.Duration) (*Result, error) {
	load := report.Load{Rooms: r.cfg.Rooms, Publishers: r.cfg.Publishers, Subscribers: r.cfg.Subscribers}
	return r.runSteps(ctx, mode, func(m *measure) error {
		m.sess.grow(ctx, load, m.sess.plan(load))
		deadline := time.Now().Add(r.cfg.JoinTimeout + time.Second)
		for !m.sess.settled() && time.Now().Before(deadline) {
			if !sleepCtx(ctx, 10*time.Millisecond) {
				return nil
			}
		}
		sleepCtx(ctx, hold)
		return nil
	})
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
	roomLines map[string][]report.RoomPoint
	prevAgg   stats.Aggregate
	prevRooms map[string]*stats.Aggregate
	cpu       *metrics.CPUSampler // per tick
	lastCPU   float64
	rampSteps []report.Step
	step      stepProgress
}

// stepProgress is what the progress line says about a ramp's step.
type stepProgress struct {
	n, max  int
	phase   string
	ends    time.Time     // the current step's measurement ends
	perStep time.Duration // a later step's likely length
	left    int           // steps that may still follow this one
}

// runSteps sets up a session and the measuring goroutines, calls body, then
// stops everything and builds the report.
func (r *Runner) runSteps(ctx context.Context, mode string, body func(*measure) error) (*Result, error) {
	e, err := newEnv(r.cfg, r.log, r.metrics)
	if err != nil {
		return nil, err
	}
	e.packetHook = r.packetHook
	e.clocks = r.clocks
	defer e.close()
	m := &measure{r: r, env: e, sess: newSession(e), start: r.now(), roomLines: map[string][]report.RoomPoint{}}
	if cpu, err := metrics.NewCPUSampler(m.start); err == nil {
		m.cpu = cpu
	}
	runCPU, _ := metrics.NewCPUSampler(m.start)

	duration := r.cfg.Duration
	if mode != "run" {
		duration = 0 // ramps and probes bound themselves
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
		TargetBots: m.sess.ownedBots(m.sess.target()),
		SLO:        r.cfg.SLO.report(),
	}
	var dropped map[string]int
	in.Rooms, dropped = m.sess.inputs()
	m.mu.Lock()
	in.Timeline = m.timeline
	for i := range in.Rooms {
		in.Rooms[i].Timeline = m.roomLines[in.Rooms[i].Name]
	}
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
	if sk := res.Report.Summary.ClockSkew; sk.Packets > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%d packets arrived before their capture time, by up to %.1f ms: publisher and subscriber clocks disagree; they are left out of latency",
			sk.Packets, sk.MaxMs))
	}
	res.Report.Warnings = append(res.Report.Warnings, res.Warnings...)
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
	agg, rooms := m.sess.aggregateByRoom(MaxRoomTimelines)
	m.mu.Lock()
	defer m.mu.Unlock()
	interval := agg.Sub(&m.prevAgg)
	m.prevAgg = agg
	for name, ra := range rooms {
		prev := m.prevRooms[name]
		if prev == nil {
			prev = &stats.Aggregate{}
		}
		ri := ra.Sub(prev)
		m.roomLines[name] = append(m.roomLines[name], report.NewRoomPoint(now.Sub(m.start), &ri))
	}
	m.prevRooms = rooms
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
	p := report.Progress{
		Elapsed:      now.Sub(m.start),
		BotsUp:       up,
		BotsTarget:   m.sess.ownedBots(m.sess.target()),
		JoinsFailed:  int(m.env.failed.Load()),
		LatencyP50Ms: float64(interval.Latency.Quantile(0.5)) / float64(time.Millisecond),
		LatencyP99Ms: float64(interval.Latency.Quantile(0.99)) / float64(time.Millisecond),
		LossPct:      interval.LossPct(),
		SFUCPUCores:  sfuCores,
	}
	m.progressETA(&p, now)
	line := report.ProgressLine(p)
	if m.r.tty {
		fmt.Fprintf(m.r.progress, "\r%s", line)
	} else {
		fmt.Fprintln(m.r.progress, line)
	}
}

// progressETA fills the step and the time left: for a run, until its
// duration ends; for a ramp, an upper bound, since it may stop sooner.
func (m *measure) progressETA(p *report.Progress, now time.Time) {
	st := m.step
	if st.n == 0 {
		if d := m.r.cfg.Duration; m.r.cfg.Duration > 0 {
			p.ETA = max(d-now.Sub(m.start), 0)
		}
		return
	}
	p.Step, p.MaxSteps, p.Phase, p.ETAUpperBound = st.n, st.max, st.phase, true
	p.ETA = max(st.ends.Sub(now), 0) + time.Duration(st.left)*st.perStep
}

// steps is set by a ramp.
func (m *measure) steps() []report.Step {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rampSteps
}

func (r *Runner) scenario(mode string) report.Scenario { return scenarioOf(r.cfg, mode) }

// scenarioOf records c in the report.
func scenarioOf(c Config, mode string) report.Scenario {
	return report.Scenario{
		Mode: mode, URL: c.URL, Rooms: c.Rooms, Publishers: c.Publishers, Subscribers: c.Subscribers,
		DurationS: c.Duration.Seconds(), JoinRate: c.JoinRate, Simulcast: c.Simulcast,
		ShapedShare: c.ShapedShare, DownlinkKbps: c.Link.DownlinkKbps, SRTP: true,
		InstanceID: c.InstanceID,
	}
}

// report converts the SLO flags to the report package's limits.
func (s SLO) report() report.SLO {
	return report.SLO{
		MaxP99LatencyMs:   s.P99LatencyMs,
		MaxLossPct:        s.LossPct,
		MaxJoinFailurePct: s.JoinFailurePct,
		MaxFreezesPerMin:  s.FreezesPerMin,
		MaxJitterMs:       s.JitterMs,
		MaxP99JoinMs:      s.P99JoinMs,

		MaxP99TimeToFirstFrameMs: s.P99FirstFrameMs,
		MinSFUCPUHeadroomPct:     s.MinSFUHeadroomPct,
	}
}
