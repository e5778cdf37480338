//go:build !linux

package web_test

import (
	"errors"
	"time"
)

type helloSniffer struct{}

func startHelloSniffer(uint16) (*helloSniffer, error) {
	return nil, errors.New("capturing on lo needs Linux packet sockets")
}

func (*helloSniffer) seen() []dtlsHello { return nil }
func (*helloSniffer) close()            {}
func (*helloSniffer) waitHellos(time.Duration, func([]dtlsHello) bool) []dtlsHello {
	return nil
}
