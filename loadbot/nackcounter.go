package loadbot

import (
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"

	"github.com/surgertc/surge/loadbot/stats"
)

// nackCounter counts the sequence numbers a subscriber bot's NACK generator
// asks the SFU to resend, so the report can show NACKs sent. A process's
// bots share their webrtc.APIs (and so this interceptor's factory); the
// media-SSRC table routes each count to its track's statistics.
type nackCounter struct {
	interceptor.NoOp
	tracks *sync.Map // uint32 media SSRC → *stats.TrackStats
}

// nackCounterFactory is registered before the NACK generator, so that the
// writer the generator keeps is the counting one.
type nackCounterFactory struct{ tracks *sync.Map }

func (f nackCounterFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackCounter{tracks: f.tracks}, nil
}

func (n *nackCounter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			nk, ok := p.(*rtcp.TransportLayerNack)
			if !ok {
				continue
			}
			st, ok := n.tracks.Load(nk.MediaSSRC)
			if !ok {
				continue
			}
			count := 0
			for _, pair := range nk.Nacks {
				count += len(pair.PacketList())
			}
			st.(*stats.TrackStats).AddNACKs(count)
		}
		return w.Write(pkts, a)
	})
}
