package turn

import (
	"encoding/binary"
	"net"
	"time"

	"github.com/pion/stun"

	"github.com/surgertc/surge/metrics"
)

// STUN message types the tap acts on (RFC 5766 §13).
const (
	typeAllocateRequest  = 0x0003
	typeRefreshRequest   = 0x0004
	typeAllocateSuccess  = 0x0103
	typeAllocateError    = 0x0113
	typeDataIndication   = 0x0017
	defaultAllocLifetime = 10 * time.Minute // RFC 5766 §6.2, and pion's
	// pion takes a requested lifetime only below an hour, else its default.
	maxPionLifetime = time.Hour - time.Second
)

// tap sits between one TURN listener and pion's server and sees every
// message at the message level (TCP and TLS streams are framed first, see
// streamConn). Pion's server has no hooks for quotas, lifetimes or
// accounting; the tap adds them without changing what pion decides:
//
//   - an authenticated Allocate from an identity at its quota is answered
//     486 (Allocation Quota Reached) here and never reaches pion;
//   - a requested lifetime above turn.max_allocation_lifetime is lowered
//     and the request re-signed (the tap holds the same key pion checks);
//   - Allocate responses tell the ledger which relay port a client got,
//     or that its admitted request failed;
//   - client-bound data is counted as relayed.
//
// Everything else passes untouched. It is called on pion's read goroutine
// of its listener (or connection) and on the goroutines that write to
// clients, and keeps no state of its own.
type tap struct {
	srv       *Server
	transport metrics.TURNTransport
	listener  string // local address, part of the client key
}

// inbound inspects a message from a client. It returns what to hand to
// pion (nil: nothing) and what to answer the client directly (nil: no
// answer). msg is not modified; a rewrite is returned in a new slice.
func (t *tap) inbound(msg []byte, src net.Addr) (forward, reply []byte) {
	if len(msg) < 20 || msg[0]&0xC0 != 0 {
		return msg, nil // ChannelData, or garbage pion refuses itself
	}
	typ := binary.BigEndian.Uint16(msg[0:2])
	if typ != typeAllocateRequest && typ != typeRefreshRequest {
		return msg, nil
	}
	m := &stun.Message{Raw: append([]byte(nil), msg...)}
	if m.Decode() != nil || !m.Contains(stun.AttrMessageIntegrity) {
		return msg, nil // the first, unauthenticated Allocate: pion challenges it
	}
	var user stun.Username
	var realm stun.Realm
	if user.GetFrom(m) != nil || realm.GetFrom(m) != nil {
		return msg, nil
	}
	allocate := typ == typeAllocateRequest
	identity, key, err := t.srv.credential(user.String(), realm.String())
	if err == nil {
		err = stun.MessageIntegrity(key).Check(m)
	}
	if err != nil {
		if allocate {
			t.srv.refuse(failureOf(err), user.String(), src, err)
		}
		return msg, nil // pion's AuthHandler refuses it the same way
	}
	if allocate && !t.srv.ledger.admit(t.client(src), identity, t.srv.now()) {
		t.srv.refuse(metrics.TURNQuota, user.String(), src, nil)
		return nil, quotaReached(m, key)
	}
	if out := capLifetime(m, key, t.srv.cfg.MaxAllocationLifetime); out != nil {
		return out, nil
	}
	return msg, nil
}

// outbound inspects a message pion sends to a client.
func (t *tap) outbound(msg []byte, dst net.Addr) {
	if len(msg) < 4 {
		return
	}
	if msg[0]&0xC0 == 0x40 { // ChannelData: relayed peer data
		t.srv.m.Relayed(metrics.RelayToClient, int(binary.BigEndian.Uint16(msg[2:4])))
		return
	}
	if len(msg) < 20 || msg[0]&0xC0 != 0 {
		return
	}
	switch binary.BigEndian.Uint16(msg[0:2]) {
	case typeDataIndication:
		t.srv.m.Relayed(metrics.RelayToClient, dataLen(msg))
	case typeAllocateSuccess:
		m := &stun.Message{Raw: append([]byte(nil), msg...)}
		var relayed stun.XORMappedAddress
		if m.Decode() == nil && relayed.GetFromAs(m, stun.AttrXORRelayedAddress) == nil {
			t.srv.ledger.confirm(t.client(dst), uint16(relayed.Port), t.transport)
		}
	case typeAllocateError:
		m := &stun.Message{Raw: append([]byte(nil), msg...)}
		var code stun.ErrorCodeAttribute
		if m.Decode() == nil && code.GetFrom(m) == nil && code.Code == stun.CodeInsufficientCapacity {
			t.srv.refuse(metrics.TURNCapacity, "", dst, nil)
		}
		t.srv.ledger.refused(t.client(dst))
	}
}

// client keys a client by its 5-tuple as this listener sees it.
func (t *tap) client(addr net.Addr) string {
	return t.transport.String() + " " + t.listener + " " + addr.String()
}

// dataLen is the DATA attribute's length in a Data indication, found
// without decoding the message (this runs per relayed packet).
func dataLen(msg []byte) int {
	for off := 20; off+4 <= len(msg); {
		typ := binary.BigEndian.Uint16(msg[off:])
		n := int(binary.BigEndian.Uint16(msg[off+2:]))
		if typ == uint16(stun.AttrData) {
			return n
		}
		off += 4 + (n+3)&^3
	}
	return 0
}

// quotaReached is the 486 answer to an Allocate, signed like pion's answers.
func quotaReached(req *stun.Message, key []byte) []byte {
	resp, err := stun.Build(
		stun.NewTransactionIDSetter(req.TransactionID),
		stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse),
		stun.ErrorCodeAttribute{Code: stun.CodeAllocQuotaReached, Reason: []byte("Allocation Quota Reached")},
		stun.MessageIntegrity(key),
		stun.Fingerprint,
	)
	if err != nil {
		return nil
	}
	return resp.Raw
}

// capLifetime returns req re-signed with its LIFETIME lowered to max, or
// nil when the requested (or default) lifetime is within max. A lifetime
// of 0 deletes the allocation and is left alone.
func capLifetime(req *stun.Message, key []byte, max time.Duration) []byte {
	max = min(max, maxPionLifetime)
	want := defaultAllocLifetime
	if v, err := req.Get(stun.AttrLifetime); err == nil {
		if len(v) != 4 {
			return nil
		}
		want = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	if want == 0 || want <= max {
		return nil
	}
	out := &stun.Message{Type: req.Type, TransactionID: req.TransactionID}
	out.WriteHeader()
	for _, a := range req.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity, stun.AttrFingerprint, stun.AttrLifetime:
			continue
		}
		out.Add(a.Type, a.Value)
	}
	var lt [4]byte
	binary.BigEndian.PutUint32(lt[:], uint32(max/time.Second))
	out.Add(stun.AttrLifetime, lt[:])
	if stun.MessageIntegrity(key).AddTo(out) != nil {
		return nil
	}
	if req.Contains(stun.AttrFingerprint) && stun.Fingerprint.AddTo(out) != nil {
		return nil
	}
	return out.Raw
}
