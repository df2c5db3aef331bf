package main

import (
	"fmt"
	"sort"
)

// Report is the benchmark's result, in seconds.
type Report struct {
	Seconds     float64   // media duration of the clip
	Cold        float64   // the first invocation, bootstrap start included
	ColdStartMs float64   // bootstrap process start → first input byte read
	Warm        []float64 // later invocations
	Bare        []float64 // hlsfleet transcode of the same clip
}

// median of xs (0 for none); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio is median warm / median bare; 0 when bare is unknown.
func (r Report) Ratio() float64 {
	b := median(r.Bare)
	if b <= 0 {
		return 0
	}
	return median(r.Warm) / b
}

// Lines renders the report.
func (r Report) Lines() []string {
	verdict := "PASS"
	if r.Ratio() > targetRatio || r.Ratio() == 0 {
		verdict = "MISS"
	}
	return []string{
		fmt.Sprintf("lambda path, %g s 1080p clip, S3 in and out, under aws-lambda-rie:", r.Seconds),
		fmt.Sprintf("  bare hlsfleet transcode (local files)  median %.2f s of %d %v", median(r.Bare), len(r.Bare), r.Bare),
		fmt.Sprintf("  warm invocation                        median %.2f s of %d %v", median(r.Warm), len(r.Warm), r.Warm),
		fmt.Sprintf("  cold invocation                        %.2f s", r.Cold),
		fmt.Sprintf("  cold start (process start → first input byte)  %.0f ms", r.ColdStartMs),
		fmt.Sprintf("  ratio warm / bare  %.2f  (target <= %.1f: %s)", r.Ratio(), targetRatio, verdict),
	}
}
