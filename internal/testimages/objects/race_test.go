//go:build race

package objects

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = true
