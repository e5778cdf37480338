//go:build !(linux && (amd64 || arm64))

package loadbot

import "github.com/pion/transport/v2"

// reactors exist on Linux only (reactor_linux.go); elsewhere subscribers
// decrypt on Pion's read goroutine (mediaConn).
type reactors struct{}

func newReactors(int) (*reactors, error) { return nil, nil }

func (p *reactors) close() {}

func newReactorNet(*reactors, transport.Net, *srtpKeys, mediaSink) transport.Net { return nil }
