package sfu

import (
	"testing"

	"github.com/surgertc/surge/metrics"
)

func TestJoinFailure(t *testing.T) {
	for _, tc := range []struct {
		name                             string
		admitted, negotiated, ice, media bool
		stage                            metrics.JoinStage
		failed                           bool
	}{
		{"never admitted", false, false, false, false, 0, false},
		{"signaling only", true, false, false, false, 0, false},
		{"negotiated, ICE never connected", true, true, false, false, metrics.StageICEConnected, true},
		{"connected, no media", true, true, true, false, metrics.StageFirstMedia, true},
		{"media", true, true, true, true, 0, false},
	} {
		s, failed := joinFailure(tc.admitted, tc.negotiated, tc.ice, tc.media)
		if failed != tc.failed || (failed && s != tc.stage) {
			t.Errorf("%s: (%v, %v), want (%v, %v)", tc.name, s, failed, tc.stage, tc.failed)
		}
	}
}
