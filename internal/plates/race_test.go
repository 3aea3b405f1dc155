//go:build race

package plates

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = true
