package hls

import "math"

// PeakBitrate is the peak segment bit rate of a media playlist as RFC 8216
// section 4.1 defines it: the largest bit rate of any run of contiguous
// segments whose total duration is between 0.5 and 1.5 times the target
// duration. Rates use the durations as written (three decimals), so a reader
// measuring from the playlist gets the same figure. When no run qualifies
// (a playlist shorter than half a target duration) the largest single-segment
// rate is used. It returns the rate in bits per second and the index of the
// first segment of the peak run. sizes[i] is the byte size of segs[i].
func PeakBitrate(segs []Segment, sizes []int64) (bps float64, first int) {
	target := float64(TargetDuration(segs))
	const eps = 1e-9
	for i := range segs {
		var bits, d float64
		for j := i; j < len(segs); j++ {
			bits += float64(sizes[j]) * 8
			d += writtenDuration(segs[j].Duration)
			if d > 1.5*target+eps {
				break
			}
			if d >= 0.5*target-eps && d > 0 && bits/d > bps {
				bps, first = bits/d, i
			}
		}
	}
	if bps > 0 {
		return bps, first
	}
	for i := range segs {
		if d := writtenDuration(segs[i].Duration); d > 0 && float64(sizes[i])*8/d > bps {
			bps, first = float64(sizes[i])*8/d, i
		}
	}
	return bps, first
}

// AverageBitrate is total bits over total written duration.
func AverageBitrate(segs []Segment, sizes []int64) float64 {
	var bits, d float64
	for i := range segs {
		bits += float64(sizes[i]) * 8
		d += writtenDuration(segs[i].Duration)
	}
	if d == 0 {
		return 0
	}
	return bits / d
}

// writtenDuration is a duration as EXTINF writes it.
func writtenDuration(d float64) float64 { return math.Round(d*1000) / 1000 }
