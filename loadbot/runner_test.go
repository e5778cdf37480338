package loadbot

import (
	"context"
	"os"
	"testing"

	"github.com/surgertc/surge/loadbot/report"
)

func TestRunMediaFlowsThroughSFU(t *testing.T) {
	s := startSFU(t)
	cfg := testConfig(s)
	r, err := NewRunner(cfg, WithLogger(quietLogger()), WithProgress(os.Stderr, false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = report.WriteTable(os.Stderr, &res.Report)
	sum := res.Report.Summary
	if sum.Bots.Connected != 3 || sum.Bots.Failed != 0 {
		t.Fatalf("bots: %+v failures %v", sum.Bots, sum.JoinFailures)
	}
	if sum.LatencyMs.P50 <= 0 {
		t.Fatalf("no latency measured: %+v", sum.LatencyMs)
	}
}
