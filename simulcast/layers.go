package simulcast

// Layers are numbered by resolution; the RIDs are what browsers put in the SDP.
const (
	LayerPaused  = -1 // no video is forwarded
	LayerQuarter = 0  // RID "q"
	LayerHalf    = 1  // RID "h"
	LayerFull    = 2  // RID "f"
	NumLayers    = 3
)

var rids = [NumLayers]string{"q", "h", "f"}

// RID names a layer as the SDP does; "" for anything that is not a layer.
func RID(layer int) string {
	if layer < 0 || layer >= NumLayers {
		return ""
	}
	return rids[layer]
}

// LayerOf is the inverse of RID: -1 for an unknown RID. A publisher that does
// not simulcast has one unnamed layer, which is layer 0.
func LayerOf(rid string) int {
	switch rid {
	case "q", "":
		return LayerQuarter
	case "h":
		return LayerHalf
	case "f":
		return LayerFull
	}
	return -1
}

// clampCap turns a subscriber preference into a usable cap in -1..2.
func clampCap(maxLayer int) int {
	if maxLayer < LayerPaused {
		return LayerPaused
	}
	if maxLayer >= NumLayers {
		return NumLayers - 1
	}
	return maxLayer
}

// topLive is the layer a track may use at most: the best live layer not above
// capLayer or, when nothing at or below the cap is live, the lowest live layer
// (a subscriber who asked for "q" still wants video when only "h" is sent).
// -1 when nothing is live.
func topLive(rates *[NumLayers]int64, capLayer int) int {
	for l := capLayer; l >= 0; l-- {
		if rates[l] > 0 {
			return l
		}
	}
	for l := capLayer + 1; l < NumLayers; l++ {
		if rates[l] > 0 {
			return l
		}
	}
	return -1
}

// fits reports whether budget covers layer l's bitrate times headroom.
func fits(rates *[NumLayers]int64, l int, budget int64, headroom float64) bool {
	return rates[l] > 0 && float64(budget) >= float64(rates[l])*headroom
}
