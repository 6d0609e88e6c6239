//go:build !race

package sockets_test

// raceEnabled: see race_test.go.
const raceEnabled = false
