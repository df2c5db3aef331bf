package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hlsfleet/hlsfleet/internal/hlscheck"
	"github.com/hlsfleet/hlsfleet/internal/testmedia"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// Without a GPU, --accel auto transcodes on the CPU path with the same
// guarantees, and an explicit accelerator fails before any output exists.
func TestTranscodeAccelWithoutGPU(t *testing.T) {
	requireTools(t)
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 2})
	noGPU := &pipeline.Caps{Devices: []pipeline.DeviceCaps{{Type: "cuda", Error: "no driver"}, {Type: "vaapi", Error: "no node"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir, res, err := runTranscode(t, ctx, pipeline.Options{Input: src, Ladder: loadSmallLadder(t), Accel: pipeline.AccelAuto, Caps: noGPU})
	if err != nil {
		t.Fatalf("auto without a GPU: %v", err)
	}
	if res.Accel == nil || res.Accel.Name != "cpu" || res.Accel.Decode != "" {
		t.Fatalf("auto without a GPU took route %+v, want cpu", res.Accel)
	}
	if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 2, ExpectAudio: true, ExpectVideo: true}); err != nil {
		t.Errorf("auto output fails the HLS checks: %v", err)
	}

	for _, a := range []pipeline.Accel{pipeline.AccelNvidia, pipeline.AccelVAAPI, pipeline.AccelQSV} {
		dir, _, err := runTranscode(t, ctx, pipeline.Options{Input: src, Ladder: loadSmallLadder(t), Accel: a, Caps: noGPU})
		if !errors.Is(err, pipeline.ErrAccelUnavailable) {
			t.Errorf("--accel %s without a GPU: %v, want ErrAccelUnavailable", a, err)
		}
		if errors.Is(err, pipeline.ErrInput) {
			t.Errorf("--accel %s without a GPU blamed the input: %v", a, err)
		}
		if _, serr := os.Stat(filepath.Join(dir, pipeline.MasterName)); serr == nil {
			t.Errorf("--accel %s: master.m3u8 exists after the failure", a)
		}
	}
}
