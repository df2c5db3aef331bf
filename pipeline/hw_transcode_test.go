package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// A device encoder that the probe listed but that does not open when the
// job runs (sessions taken by another process, a driver gone) costs the
// rendition its GPU encoder, not the job: it is encoded on the CPU and the
// route says why. Shown here with caps that claim encoders this machine
// does not have.
func TestTranscodeDeviceEncoderFallsBackToCPU(t *testing.T) {
	requireTools(t)
	for _, d := range pipeline.ProbeAccel(pipeline.ProbeOptions{SessionCap: 1}).Devices {
		if d.Opened {
			t.Skipf("this machine has a %s device: its encoders might really open", d.Type)
		}
	}
	src := testmedia.Generate(t, testmedia.Spec{Width: 640, Height: 360, Duration: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		accel   pipeline.Accel
		devType string
		enc     string
	}{
		{pipeline.AccelNvidia, "cuda", "h264_nvenc"},
		{pipeline.AccelQSV, "qsv", "h264_qsv"},
	} {
		t.Run(string(tc.accel), func(t *testing.T) {
			// Encoders only: no hardware decoder, so nothing but the encoder
			// touches the (missing) device.
			fake := &pipeline.Caps{Devices: []pipeline.DeviceCaps{{Type: tc.devType, Opened: true,
				Encoders: []pipeline.EncoderCaps{{Codec: "h264", Name: tc.enc, Opened: true, Sessions: 4}}}}}
			dir, res, err := runTranscode(t, ctx, pipeline.Options{Input: src, Ladder: loadSmallLadder(t), Accel: tc.accel, Caps: fake})
			if err != nil {
				t.Fatalf("transcode failed instead of falling back: %v", err)
			}
			if res.Accel == nil || res.Accel.Name != "cpu" {
				t.Fatalf("route %+v: want cpu", res.Accel)
			}
			fellBack := 0
			for _, r := range res.Accel.Reasons {
				if strings.Contains(r, "opening "+tc.enc) && strings.HasSuffix(r, "encoded on the CPU") {
					fellBack++
				}
			}
			if fellBack != len(res.Renditions) {
				t.Errorf("reasons %q: want one %s fallback per rendition (%d)", res.Accel.Reasons, tc.enc, len(res.Renditions))
			}
			for _, e := range res.Accel.Encoders {
				if e != pipeline.AccelCPU {
					t.Errorf("encoders %v, want all cpu", res.Accel.Encoders)
				}
			}
			if _, err := hlscheck.Check(dir, hlscheck.Options{SourceWidth: 640, SourceHeight: 360, SourceDuration: 2, ExpectAudio: true, ExpectVideo: true}); err != nil {
				t.Errorf("fallback output fails the HLS checks: %v", err)
			}
		})
	}
}
