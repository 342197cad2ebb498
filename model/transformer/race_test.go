//go:build race

package transformer

// raceEnabled reports a -race build, where sync.Pool drops items at random
// and allocation counts are meaningless.
const raceEnabled = true
