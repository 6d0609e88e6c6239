//go:build race

package sockets_test

// raceEnabled reports whether the tests run under the race detector,
// whose sync.Pool drops items at random: allocation counts are then
// meaningless, and the tests that assert them skip (make test runs them
// again without -race).
const raceEnabled = true
