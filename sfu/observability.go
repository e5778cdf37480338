package sfu

import "github.com/surgertc/surge/metrics"

// WithVersion names the build in surge_build_info (default "dev").
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// registerNodeMetrics adds build info, readiness and join stages to the
// server's registry.
func (s *Server) registerNodeMetrics() {
	if s.version == "" {
		s.version = "dev"
	}
	metrics.RegisterNode(s.reg, s.version, func() bool { return !s.draining.Load() })
	s.stages = metrics.NewJoinStages(s.reg)
}
