package stats

import "testing"

func TestIntervalLossIsCappedAt100(t *testing.T) {
	a := Aggregate{PacketsLost: 300, PacketsExpected: 2}
	if got := a.LossPct(); got != 100 {
		t.Fatalf("loss %.1f %%, want the 100 %% cap", got)
	}
}
