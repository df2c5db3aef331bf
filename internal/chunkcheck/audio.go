package chunkcheck

import (
	"math"
	"slices"
)

// pcm is one output's decoded audio: interleaved samples and when the
// first one plays, in seconds on the stream's timeline.
type pcm struct {
	samples  []float32
	channels int
	rate     float64
	start    float64
}

// frames returns the number of samples per channel.
func (p pcm) frames() int {
	if p.channels <= 0 {
		return 0
	}
	return len(p.samples) / p.channels
}

// index returns the sample (per channel) that plays at time t, which may
// lie outside the samples.
func (p pcm) index(t float64) int { return int(math.Round((t - p.start) * p.rate)) }

// maxStep returns the largest difference between two consecutive samples
// of one channel among frames [from, to) (each compared with the one
// before it), clamped to the samples.
func (p pcm) maxStep(from, to int) float64 {
	from, to = max(from, 1), min(to, p.frames())
	m := 0.0
	for i := from; i < to; i++ {
		for c := range p.channels {
			m = math.Max(m, math.Abs(float64(p.samples[i*p.channels+c]-p.samples[(i-1)*p.channels+c])))
		}
	}
	return m
}

// toneStep is the signal's own largest sample-to-sample step: the median
// over one-second blocks of each block's largest step, leaving out the
// first and last block (encoder start-up and end) when there are more
// than two. For a sine of amplitude A and frequency f at rate r it is
// about 2·A·sin(π·f/r), 0.0145 for 440 Hz at -12 dBFS and 48 kHz; a click
// shows as a step many times larger.
func (p pcm) toneStep() float64 {
	block := int(p.rate)
	if block <= 0 || p.frames() < 2 {
		return 0
	}
	var steps []float64
	for at := 0; at < p.frames(); at += block {
		steps = append(steps, p.maxStep(at, at+block))
	}
	if len(steps) > 2 {
		steps = steps[1 : len(steps)-1]
	}
	slices.Sort(steps)
	return steps[len(steps)/2]
}

// joinFigures measures, within ±window seconds of each join (absolute
// times on the streams' timeline), the largest difference between the
// chunked and single-pass samples playing at the same time and the
// largest sample-to-sample step of each; and the largest difference
// anywhere else (elsewhere). Samples are matched by time: the two
// decodes may start at different times.
func joinFigures(single, chunked pcm, joins []float64, window float64) (js []Join, elsewhere float64) {
	ch := min(single.channels, chunked.channels)
	if ch == 0 || single.rate != chunked.rate {
		return nil, math.NaN()
	}
	offset := int(math.Round((single.start - chunked.start) * single.rate)) // chunked index = single index + offset
	diff := func(i int) (float64, bool) {
		j := i + offset
		if i < 0 || i >= single.frames() || j < 0 || j >= chunked.frames() {
			return 0, false
		}
		d := 0.0
		for c := range ch {
			d = math.Max(d, math.Abs(float64(single.samples[i*single.channels+c]-chunked.samples[j*chunked.channels+c])))
		}
		return d, true
	}
	half := int(math.Round(window * single.rate))
	inWindow := make([]bool, single.frames())
	for _, t := range joins {
		j := Join{Time: t, MaxDiff: math.NaN(), MaxStep: math.NaN(), SingleStep: math.NaN()}
		at := single.index(t)
		compared := 0
		for i := at - half; i < at+half; i++ {
			d, ok := diff(i)
			if !ok {
				continue
			}
			if compared == 0 {
				j.MaxDiff = 0
			}
			compared++
			j.MaxDiff = math.Max(j.MaxDiff, d)
			inWindow[i] = true
		}
		if compared > 0 {
			j.MaxStep = chunked.maxStep(at-half+offset, at+half+offset)
			j.SingleStep = single.maxStep(at-half, at+half)
		}
		js = append(js, j)
	}
	for i := range single.frames() {
		if inWindow[i] {
			continue
		}
		if d, ok := diff(i); ok {
			elsewhere = math.Max(elsewhere, d)
		}
	}
	return js, elsewhere
}
