//go:build race

package haar

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = true
