//go:build !race

package loadbot

const raceEnabled = false
