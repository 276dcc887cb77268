//go:build race

package sensor

// raceEnabled: the race detector slows the pipeline about tenfold.
const raceEnabled = true
