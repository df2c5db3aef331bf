package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff bounds: the first retry waits up to BackoffBase, each later one up
// to twice as long as the one before, never more than BackoffCap.
const (
	BackoffBase = 5 * time.Second
	BackoffCap  = 10 * time.Minute
)

// BackoffCeiling returns the longest delay Backoff gives before attempt
// (the receive count of the delivery that failed, 1 on the first):
// BackoffBase·2^(attempt-1), at most BackoffCap. Attempts below 1 count as 1.
func BackoffCeiling(attempt int) time.Duration {
	attempt = max(attempt, 1)
	d := BackoffBase
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= BackoffCap {
			return BackoffCap
		}
	}
	return min(d, BackoffCap)
}

// Backoff returns how long to keep a failed message invisible before its
// next delivery: "full jitter" (AWS architecture blog), a uniformly random
// delay in [0, BackoffCeiling(attempt)). rnd returns a number in [0, 1) (as
// math/rand/v2.Float64); it is the only source of randomness, so Backoff is
// a pure function of its arguments. A nil rnd gives the ceiling itself;
// values outside [0, 1) are clamped.
func Backoff(attempt int, rnd func() float64) time.Duration {
	ceil := BackoffCeiling(attempt)
	if rnd == nil {
		return ceil
	}
	f := rnd()
	switch {
	case f < 0 || f != f: // negative or NaN
		f = 0
	case f >= 1:
		return ceil
	}
	return time.Duration(f * float64(ceil))
}

// DefaultBackoff is Config.Backoff's default: Backoff with math/rand/v2.
func DefaultBackoff(attempt int) time.Duration { return Backoff(attempt, rand.Float64) }
