package loadbot

// layerAllocator splits a publisher's bandwidth estimate over its
// simulcast layers as Chromium's SimulcastRateAllocator does: from the
// lowest layer up, each layer takes its target bitrate while the estimate
// lasts; a layer is sent only if what is left covers at least its minimum
// (layerMinShare of its target), so when the uplink shrinks f stops first,
// then h, and the lowest layer always goes out. The highest layer sent gets
// whatever is left, up to its target. A layer that stopped starts again
// only once the estimate covers its need with layerEnableMargin to spare,
// so an estimate wavering at the edge does not switch it on and off.
// Pure: the publisher feeds it estimates.
type layerAllocator struct {
	targets []int // bps, lowest layer first
	active  int   // layers sent after the last decision
}

const (
	// layerMinShare is Chromium's min/target ratio of its 360p layer
	// (150 of 500 kbps) applied to every layer.
	layerMinShare = 0.3
	// layerEnableMargin is the extra a stopped layer needs to restart.
	layerEnableMargin = 1.2
)

func newLayerAllocator(targetsBps []int) *layerAllocator {
	return &layerAllocator{targets: targetsBps, active: len(targetsBps)}
}

// decide returns, for an estimate in bps, the bitrate each layer should
// send (0: not sent), into rates (len(targets)).
func (a *layerAllocator) decide(estimate int, rates []int) []int {
	rates = rates[:0]
	left := float64(estimate)
	active := 0
	for i, t := range a.targets {
		need := layerMinShare * float64(t)
		if i >= a.active {
			need *= layerEnableMargin
		}
		if i > 0 && left < need {
			break
		}
		r := min(float64(t), max(left, 0))
		if i == 0 {
			r = max(r, need) // the lowest layer is always sent
		}
		rates = append(rates, int(r))
		left -= float64(t)
		active++
	}
	for len(rates) < len(a.targets) {
		rates = append(rates, 0)
	}
	a.active = active
	return rates
}
