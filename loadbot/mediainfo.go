package loadbot

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/surgertc/surge/loadbot/stats"
)

// mediaInfo is what a subscriber needs from the server's offer to read
// packets without Pion: which payload types are audio or video, the
// header-extension IDs it reads, and the track id behind each SSRC (the
// id `subscription` messages name).
type mediaInfo struct {
	kinds         map[uint8]stats.Kind
	ids           map[uint32]string
	absID, twccID uint8
}

// parseMediaInfo reads an offer. Renegotiation only adds: SSRCs and
// payload types of earlier offers stay known (prev), since their packets
// may still be in flight.
func parseMediaInfo(offer string, prev mediaInfo) mediaInfo {
	mi := mediaInfo{kinds: map[uint8]stats.Kind{}, ids: map[uint32]string{}, absID: prev.absID, twccID: prev.twccID}
	for pt, k := range prev.kinds {
		mi.kinds[pt] = k
	}
	for ssrc, id := range prev.ids {
		mi.ids[ssrc] = id
	}
	var sd sdp.SessionDescription
	if sd.Unmarshal([]byte(offer)) != nil {
		return mi
	}
	for _, md := range sd.MediaDescriptions {
		var kind stats.Kind
		switch md.MediaName.Media {
		case "audio":
			kind = stats.KindAudio
		case "video":
			kind = stats.KindVideo
		default:
			continue
		}
		for _, f := range md.MediaName.Formats {
			if pt, err := strconv.ParseUint(f, 10, 7); err == nil {
				mi.kinds[uint8(pt)] = kind
			}
		}
		trackID := ""
		if v, ok := md.Attribute("msid"); ok {
			if f := strings.Fields(v); len(f) == 2 {
				trackID = f[1]
			}
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "extmap":
				// "<id>[/<direction>] <uri> [attributes]"
				f := strings.Fields(a.Value)
				if len(f) < 2 {
					continue
				}
				id, err := strconv.ParseUint(strings.SplitN(f[0], "/", 2)[0], 10, 8)
				if err != nil {
					continue
				}
				switch f[1] {
				case absCaptureTimeURI:
					mi.absID = uint8(id)
				case sdp.TransportCCURI:
					mi.twccID = uint8(id)
				}
			case "ssrc":
				// "<ssrc> msid:<stream> <track>" names the track;
				// any ssrc line makes the SSRC known.
				f := strings.Fields(a.Value)
				if len(f) == 0 {
					continue
				}
				ssrc, err := strconv.ParseUint(f[0], 10, 32)
				if err != nil {
					continue
				}
				id := trackID
				if len(f) == 3 && strings.HasPrefix(f[1], "msid:") {
					id = f[2]
				}
				if id != "" || mi.ids[uint32(ssrc)] == "" {
					mi.ids[uint32(ssrc)] = id
				}
			}
		}
	}
	return mi
}
