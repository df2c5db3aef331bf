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
	return ceiling(attempt, BackoffBase, BackoffCap)
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

// Infrastructure backoff (Decide's ActWait): the first wait on a storage or
// queue outage is up to InfraBackoffBase, each later one up to twice as
// long, never more than InfraBackoffCap; a delivery waits in-process at most
// DefaultInfraHold in all before it releases the message.
const (
	InfraBackoffBase = 5 * time.Second
	InfraBackoffCap  = 5 * time.Minute
	DefaultInfraHold = 10 * time.Minute
)

// InfraBackoff returns the n-th wait (1 on the first) on an infrastructure
// fault: "equal jitter", uniformly random in [c/2, c) for the ceiling
// c = InfraBackoffBase·2^(n-1), at most InfraBackoffCap. Half of each
// ceiling is certain, so successive waits add up to at least half the
// ceilings' sum (2.5 + 5 + 10 + 20 + 40 s ≥ 77 s after five waits) and a
// short outage is waited out in a few tries; the random half spreads the
// workers' retries. rnd is as for Backoff (nil: the ceiling).
func InfraBackoff(n int, rnd func() float64) time.Duration {
	ceil := ceiling(n, InfraBackoffBase, InfraBackoffCap)
	if rnd == nil {
		return ceil
	}
	f := rnd()
	switch {
	case f < 0 || f != f:
		f = 0
	case f >= 1:
		return ceil
	}
	return ceil/2 + time.Duration(f*float64(ceil/2))
}

// DefaultInfraBackoff is Config.InfraBackoff's default: InfraBackoff with
// math/rand/v2.
func DefaultInfraBackoff(n int) time.Duration { return InfraBackoff(n, rand.Float64) }

// ceiling is base·2^(n-1), at most limit; n below 1 counts as 1.
func ceiling(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < n; i++ {
		d *= 2
		if d >= limit {
			return limit
		}
	}
	return min(d, limit)
}
