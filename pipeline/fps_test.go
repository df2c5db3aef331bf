package pipeline_test

import (
	"math"
	"testing"

	"github.com/hlsfleet/hlsfleet/pipeline"
)

func TestVideoInfoFPS(t *testing.T) {
	for in, want := range map[string]float64{
		"30000/1001": 29.97003, "25": 25, "30/1": 30, "": 0, "x/1": 0, "30/0": 0, "30/y": 0,
	} {
		v := pipeline.VideoInfo{FrameRate: in}
		if got := v.FPS(); math.Abs(got-want) > 1e-4 {
			t.Errorf("FPS(%q) = %v, want %v", in, got, want)
		}
	}
}
