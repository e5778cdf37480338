package sfu

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// headerReuse is the innermost of the publish side's receive interceptors.
// Each of Pion's (the NACK generator, the receiver reports, the TWCC
// recorder) reads the packet's header through Attributes.GetRTPHeader, and
// the first of them, finding no attributes, makes a new map and a new
// rtp.Header (and its extension slice) for every packet: four of the
// allocations per published packet that the whole process makes. This one
// hands each stream's packets the same map with the same header, parsed
// again in place, so the others find it cached.
//
// A stream's reads come from one goroutine (its Receiver's read loop) and
// none of Pion's interceptors keeps the header past its Read (the TWCC
// recorder sends the pointer to its loop but reads only the sequence
// number and arrival time it copied), so the reuse is safe there; whoever
// reads the track must not keep the returned attributes past the next Read.
type headerReuse struct {
	interceptor.NoOp
}

type headerReuseFactory struct{}

func (headerReuseFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &headerReuse{}, nil
}

func (*headerReuse) BindRemoteStream(_ *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	var (
		attr interceptor.Attributes
		hdr  *rtp.Header
	)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil || a != nil {
			// Attributes made below us (none are today) carry their own header.
			return n, a, err
		}
		if hdr == nil {
			m := make(interceptor.Attributes, 1)
			h, err := m.GetRTPHeader(b[:n])
			if err != nil {
				return 0, nil, err
			}
			attr, hdr = m, h
			return n, attr, nil
		}
		if _, err := hdr.Unmarshal(b[:n]); err != nil {
			return 0, nil, err
		}
		return n, attr, nil
	})
}
