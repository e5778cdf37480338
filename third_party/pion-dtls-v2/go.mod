module github.com/pion/dtls/v2

require (
	github.com/pion/logging v0.2.2
	github.com/pion/transport/v2 v2.2.4
	golang.org/x/crypto v0.18.0
	golang.org/x/net v0.20.0
)

go 1.13
