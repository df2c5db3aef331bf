package jobexec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hlsfleet/hlsfleet/pipeline"
)

// A worker's accelerator from a probe a parent passed down (no device
// needed): auto resolves against it, the sessions come from it unless
// given, and the probe stays in the environment for the job children.
func TestResolveWorkerAccel(t *testing.T) {
	caps := &pipeline.Caps{Devices: []pipeline.DeviceCaps{{Type: "cuda", Opened: true, Decoders: []string{"h264"},
		Encoders: []pipeline.EncoderCaps{{Codec: "h264", Name: "h264_nvenc", Opened: true, Sessions: 3}}}}}
	data, err := json.Marshal(caps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Setenv(EnvAccelCaps, "")
	wa, err := ResolveWorkerAccel(ctx, pipeline.AccelCPU, 4)
	if err != nil || wa != (WorkerAccel{Accel: pipeline.AccelCPU, Summary: "accel cpu"}) {
		t.Errorf("cpu: %+v, %v", wa, err)
	}
	if v := os.Getenv(EnvAccelCaps); v != "" {
		t.Errorf("cpu set %s=%s", EnvAccelCaps, v)
	}

	for _, tc := range []struct {
		sessions, want int
	}{{0, 3}, {5, 5}} {
		t.Setenv(EnvAccelCaps, string(data))
		wa, err := ResolveWorkerAccel(ctx, pipeline.AccelAuto, tc.sessions)
		if err != nil {
			t.Fatal(err)
		}
		if wa.Accel != pipeline.AccelNvidia || wa.Sessions != tc.want || wa.Summary != "accel nvidia; "+caps.Summary() {
			t.Errorf("auto with sessions %d: %+v, want nvidia with %d sessions", tc.sessions, wa, tc.want)
		}
		if got := CapsFromEnv(); got == nil || got.Sessions(pipeline.AccelNvidia, "h264") != 3 {
			t.Errorf("%s after resolving: %q", EnvAccelCaps, os.Getenv(EnvAccelCaps))
		}
	}

	_, err = ResolveWorkerAccel(ctx, pipeline.AccelVAAPI, 0)
	if !errors.Is(err, pipeline.ErrAccelUnavailable) || !strings.Contains(err.Error(), "vaapi") {
		t.Errorf("vaapi with no such device: %v, want ErrAccelUnavailable", err)
	}
}
