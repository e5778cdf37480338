module github.com/pion/ice/v2

go 1.13

require (
	github.com/google/uuid v1.3.1
	github.com/kr/pretty v0.1.0 // indirect
	github.com/pion/dtls/v2 v2.2.7
	github.com/pion/logging v0.2.2
	github.com/pion/mdns v0.0.12
	github.com/pion/randutil v0.1.0
	github.com/pion/stun v0.6.1
	github.com/pion/transport/v2 v2.2.10
	github.com/pion/turn/v2 v2.1.3
	github.com/stretchr/testify v1.8.4
	golang.org/x/net v0.20.0
	gopkg.in/check.v1 v1.0.0-20190902080502-41f04d3bba15 // indirect
)
