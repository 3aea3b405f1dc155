//go:build !race

package plates

const raceEnabled = false
