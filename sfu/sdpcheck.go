package sfu

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/surgertc/surge/sfu/signal"
)

// Limits on a peer's session description, checked before Pion sees it. Pion
// trusts the grammar of what it parses (a=simulcast:send q;;h panics in its
// rid parser), so everything a peer writes that Pion splits by hand is
// checked here against the RFC grammar, and the counts a peer controls are
// bounded so that one description cannot make the server build thousands of
// transceivers.
const (
	maxSDPMediaSections  = 32  // a publisher with 8 tracks uses 8; a subscriber answer mirrors our offer
	maxSDPAttributes     = 256 // per media section; Chromium writes about 60 for simulcast video
	maxSDPAttributeBytes = 4096
	maxRIDsPerSection    = 8 // we use three (q, h, f)
	maxRIDLength         = 16
	maxSSRCLines         = 64 // per media section: a=ssrc lines (several per SSRC)
	maxCandidateLines    = 64 // per media section
)

// checkRemoteSDP parses a peer's offer or answer and checks it against the
// limits above and the grammar of the attributes Pion parses by hand. It
// returns an invalid_sdp error that says what to fix.
func checkRemoteSDP(text string) (*sdp.SessionDescription, error) {
	var parsed sdp.SessionDescription
	if err := safely(func() error { return parsed.Unmarshal([]byte(text)) }); err != nil {
		return nil, signal.Errorf(signal.CodeInvalidSDP, "does not parse: %v", err)
	}
	if n := len(parsed.MediaDescriptions); n > maxSDPMediaSections {
		return nil, signal.Errorf(signal.CodeInvalidSDP, "has %d media sections; at most %d are accepted", n, maxSDPMediaSections)
	}
	if len(parsed.Attributes) > maxSDPAttributes {
		return nil, signal.Errorf(signal.CodeInvalidSDP, "has %d session attributes; at most %d are accepted", len(parsed.Attributes), maxSDPAttributes)
	}
	for i, m := range parsed.MediaDescriptions {
		if err := checkMediaSection(m); err != nil {
			return nil, signal.Errorf(signal.CodeInvalidSDP, "media section %d: %s", i, err)
		}
	}
	if err := checkMids(&parsed); err != nil {
		return nil, err
	}
	return &parsed, nil
}

func checkMediaSection(m *sdp.MediaDescription) error {
	if len(m.Attributes) > maxSDPAttributes {
		return fmt.Errorf("%d attributes; at most %d are accepted", len(m.Attributes), maxSDPAttributes)
	}
	rids := map[string]bool{}
	ssrcs, candidates := 0, 0
	var simulcast []string
	for _, a := range m.Attributes {
		if len(a.Value) > maxSDPAttributeBytes {
			return fmt.Errorf("a=%s is %d bytes; at most %d are accepted", a.Key, len(a.Value), maxSDPAttributeBytes)
		}
		switch a.Key {
		case "rid":
			id, err := checkRID(a.Value)
			if err != nil {
				return fmt.Errorf("a=rid:%s: %w", a.Value, err)
			}
			if rids[id] {
				return fmt.Errorf("a=rid %q declared twice", id)
			}
			rids[id] = true
			if len(rids) > maxRIDsPerSection {
				return fmt.Errorf("more than %d a=rid lines", maxRIDsPerSection)
			}
		case "simulcast":
			simulcast = append(simulcast, a.Value)
		case "ssrc":
			if ssrcs++; ssrcs > maxSSRCLines {
				return fmt.Errorf("more than %d a=ssrc lines", maxSSRCLines)
			}
		case "candidate":
			if candidates++; candidates > maxCandidateLines {
				return fmt.Errorf("more than %d a=candidate lines", maxCandidateLines)
			}
		}
	}
	if len(simulcast) > 1 {
		return fmt.Errorf("%d a=simulcast lines; at most one is allowed", len(simulcast))
	}
	for _, v := range simulcast {
		if err := checkSimulcast(v, rids); err != nil {
			return fmt.Errorf("a=simulcast:%s: %w", v, err)
		}
	}
	return nil
}

// checkRID checks "rid-id SP direction [SP params]" (RFC 8851 §10) and
// returns the id.
func checkRID(v string) (string, error) {
	parts := strings.Split(v, " ")
	if len(parts) < 2 {
		return "", fmt.Errorf(`want "<id> send" or "<id> recv"`)
	}
	if err := checkRIDID(parts[0]); err != nil {
		return "", err
	}
	if parts[1] != "send" && parts[1] != "recv" {
		return "", fmt.Errorf("direction %q: want send or recv", parts[1])
	}
	if len(parts) > 3 {
		return "", fmt.Errorf("parameters must be one space-free list")
	}
	return parts[0], nil
}

// checkRIDID: rid-syntax is 1*(alpha-numeric / "-" / "_"); RFC 8852 caps
// the header extension that carries it at 16 bytes.
func checkRIDID(id string) error {
	if id == "" || len(id) > maxRIDLength {
		return fmt.Errorf("rid id %q: want 1 to %d characters", id, maxRIDLength)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("rid id %q: only letters, digits, - and _ are allowed", id)
		}
	}
	return nil
}

// checkSimulcast checks "send|recv SP alt-list [SP send|recv SP alt-list]"
// (RFC 8853 §5.1), where alt-list is ";"-separated alternatives of
// ","-separated rid ids, each optionally paused with "~", and every id is
// declared by an a=rid line of the same section.
func checkSimulcast(v string, rids map[string]bool) error {
	parts := strings.Split(v, " ")
	if len(parts) != 2 && len(parts) != 4 {
		return fmt.Errorf(`want "send <list>" and/or "recv <list>", one space apart`)
	}
	seen := map[string]bool{}
	for i := 0; i < len(parts); i += 2 {
		dir, list := parts[i], parts[i+1]
		if dir != "send" && dir != "recv" {
			return fmt.Errorf("direction %q: want send or recv", dir)
		}
		if seen[dir] {
			return fmt.Errorf("direction %s given twice", dir)
		}
		seen[dir] = true
		n := 0
		for _, alt := range strings.Split(list, ";") {
			if alt == "" {
				return fmt.Errorf("empty stream in %q", list)
			}
			for _, id := range strings.Split(alt, ",") {
				id = strings.TrimPrefix(id, "~")
				if err := checkRIDID(id); err != nil {
					return err
				}
				if !rids[id] {
					return fmt.Errorf("rid %q has no a=rid line", id)
				}
				if n++; n > maxRIDsPerSection {
					return fmt.Errorf("more than %d streams", maxRIDsPerSection)
				}
			}
		}
	}
	return nil
}

// errPionPanic marks a panic recovered inside Pion.
var errPionPanic = fmt.Errorf("the WebRTC stack failed on this input")

// safely runs fn, which calls into Pion with peer input, and turns a panic
// into an error: a peer's bytes must never take down the server, nor the
// goroutine that serves the peer's socket.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v at %s)", errPionPanic, r, panicSite())
		}
	}()
	return fn()
}

// panicSite names the function that panicked, for one log line instead of
// a stack trace.
func panicSite() string {
	pcs := make([]uintptr, 16)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return f.Function
		}
		if !more {
			return "unknown"
		}
	}
}
