package hls

import (
	"math"
	"testing"
)

func TestPeakBitrate(t *testing.T) {
	seg := func(d ...float64) []Segment {
		s := make([]Segment, len(d))
		for i := range d {
			s[i] = Segment{URI: "s", Duration: d[i]}
		}
		return s
	}
	cases := []struct {
		name      string
		segs      []Segment
		sizes     []int64
		want      float64
		wantFirst int
	}{
		{"uniform", seg(4, 4, 4), []int64{500, 500, 500}, 1000, 0},
		{"peak in middle", seg(4, 4, 4), []int64{500, 1000, 500}, 2000, 1},
		// A short last segment alone is under half the target: it only counts
		// joined with its neighbour (4 s + 1 s = 5 s <= 6 s).
		{"short last segment", seg(4, 4, 1), []int64{500, 500, 1000}, (500 + 1000) * 8 / 5.0, 1},
		// Durations are taken as written: 1.0333 is written 1.033.
		{"only short", seg(1.0333), []int64{1000}, 8000 / 1.033, 0},
		{"run of two short", seg(1, 1, 1, 1), []int64{100, 300, 300, 100}, 600 * 8 / 2.0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, first := PeakBitrate(c.segs, c.sizes)
			if math.Abs(got-c.want) > 1e-6 || first != c.wantFirst {
				t.Fatalf("PeakBitrate = %f (first %d), want %f (first %d)", got, first, c.want, c.wantFirst)
			}
		})
	}
	if got := AverageBitrate(seg(4, 2), []int64{1000, 1000}); math.Abs(got-16000/6.0) > 1e-9 {
		t.Fatalf("AverageBitrate = %f", got)
	}
}
