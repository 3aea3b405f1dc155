//go:build !race

package haar

const raceEnabled = false
