package cluster

import "errors"

// Sentinel errors of package cluster.
var (
	ErrConfig = errors.New("invalid cluster configuration")
	// ErrDraining: the node is draining or closed and places no room.
	ErrDraining = errors.New("node is draining")
	// ErrContention: the room's claim changed under every attempt to place
	// it; the client should retry.
	ErrContention = errors.New("room placement contended; retry")
)
