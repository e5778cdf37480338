module github.com/pion/srtp/v2

go 1.14

require (
	github.com/pion/logging v0.2.2
	github.com/pion/rtcp v1.2.12
	github.com/pion/rtp v1.8.3
	github.com/pion/transport/v2 v2.2.3
	github.com/stretchr/testify v1.8.4
)
