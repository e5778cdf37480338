package sfu

import (
	"sync"
	"time"

	"github.com/surgertc/surge/metrics"
)

// joinProgress follows one admitted participant through the join stages
// (metrics.JoinStage), so that a join that was admitted and then never got
// media counts as a failure, not a success.
type joinProgress struct {
	mu         sync.Mutex
	admittedAt time.Time
	admitted   bool
	negotiated bool // an offer or answer was applied: media is expected
	ice        bool
	media      bool
	ended      bool
}

// joinFailure is the stage a join that ends now failed at, if any. A
// participant that never negotiated (signaling only, or alone in a room
// with nothing to receive) expected no media and has not failed.
func joinFailure(admitted, negotiated, ice, media bool) (metrics.JoinStage, bool) {
	switch {
	case !admitted || media || !negotiated:
		return 0, false
	case !ice:
		return metrics.StageICEConnected, true
	default:
		return metrics.StageFirstMedia, true
	}
}

func (p *Participant) stageAdmitted() {
	j := &p.stages
	j.mu.Lock()
	j.admitted, j.admittedAt = true, time.Now()
	j.mu.Unlock()
	p.srv.stages.Reached(metrics.StageAdmitted, 0)
}

func (p *Participant) stageNegotiated() {
	j := &p.stages
	j.mu.Lock()
	j.negotiated = true
	j.mu.Unlock()
}

// stageReached marks ICE connected or first media, once per participant.
func (p *Participant) stageReached(s metrics.JoinStage) {
	j := &p.stages
	j.mu.Lock()
	flag := &j.ice
	if s == metrics.StageFirstMedia {
		flag = &j.media
	}
	if *flag || !j.admitted || j.ended {
		j.mu.Unlock()
		return
	}
	*flag = true
	// Media implies a connected transport; Pion reports the state change
	// from another goroutine and it can come second. Counting both keeps
	// the funnel monotonic: ice_connected >= first_media.
	alsoICE := s == metrics.StageFirstMedia && !j.ice
	j.ice = true
	took := time.Since(j.admittedAt).Seconds()
	j.mu.Unlock()
	if alsoICE {
		p.srv.stages.Reached(metrics.StageICEConnected, took)
	}
	p.srv.stages.Reached(s, took)
}

// noteMediaSent marks first media once any of the participant's
// subscriptions has started forwarding; the controller calls it each tick
// until then.
func (p *Participant) noteMediaSent(downs []*DownTrack) {
	p.stages.mu.Lock()
	done := p.stages.media
	p.stages.mu.Unlock()
	if done {
		return
	}
	for _, d := range downs {
		if d.curLayer.Load() >= 0 {
			p.stageReached(metrics.StageFirstMedia)
			return
		}
	}
}

// stageEnd counts a failure if the participant leaves short of media.
func (p *Participant) stageEnd() {
	j := &p.stages
	j.mu.Lock()
	if j.ended {
		j.mu.Unlock()
		return
	}
	j.ended = true
	s, failed := joinFailure(j.admitted, j.negotiated, j.ice, j.media)
	j.mu.Unlock()
	if failed {
		p.srv.stages.Failed(s)
		p.log.Info("join failed after admission", "missing_stage", s.String())
	}
}
