package testpeer

// Exported for tests only.
var (
	LeakedGoroutines = leakedGoroutines
	RunPattern       = runPattern
)
