package jobexec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// EnvAccelCaps carries a parent's accelerator probe (JSON pipeline.Caps) to
// its children, so that a job child or the transcode child does not probe
// again.
const EnvAccelCaps = "HLSFLEET_ACCEL_CAPS"

// ProbeAccelIsolated runs `hlsfleet probe --accel --json` in a child and
// returns its capabilities: a driver crash costs the child only.
func ProbeAccelIsolated(ctx context.Context) (*pipeline.Caps, error) {
	var out, errb bytes.Buffer
	res, err := isolate.Run(ctx, isolate.Options{Args: []string{"probe", "--accel", "--json"}, Stdout: &out, Stderr: &errb})
	if err != nil {
		return nil, fmt.Errorf("probing accelerators: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("probing accelerators: exit %d: %s", res.ExitCode, strings.TrimSpace(lastLineOf(errb.String())))
	}
	var c pipeline.Caps
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		return nil, fmt.Errorf("probing accelerators: reading the report: %w", err)
	}
	return &c, nil
}

func lastLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// CapsFromEnv returns the probe a parent passed down, or nil.
func CapsFromEnv() *pipeline.Caps {
	v := os.Getenv(EnvAccelCaps)
	if v == "" {
		return nil
	}
	var c pipeline.Caps
	if json.Unmarshal([]byte(v), &c) != nil {
		return nil
	}
	return &c
}

// CapsEnv is the KEY=VALUE that hands the probe c down to a child.
func CapsEnv(c *pipeline.Caps) string {
	b, _ := json.Marshal(c)
	return EnvAccelCaps + "=" + string(b)
}

// ResolveAccel probes (in a child) unless the accel is cpu, and resolves
// auto. An explicit accel this machine lacks is ErrAccelUnavailable: exit
// 1, since the input is not at fault and another machine can do the job.
func ResolveAccel(ctx context.Context, a pipeline.Accel) (pipeline.Accel, *pipeline.Caps, error) {
	if a == pipeline.AccelCPU {
		return a, nil, nil
	}
	c := CapsFromEnv()
	if c == nil {
		c, _ = pipeline.NoGPU() // no device node: nothing to probe, no process to start
	}
	if c == nil {
		var err error
		if c, err = ProbeAccelIsolated(ctx); err != nil {
			if a == pipeline.AccelAuto {
				// No probe, no GPU: the CPU path always works.
				return pipeline.AccelCPU, &pipeline.Caps{Devices: []pipeline.DeviceCaps{{Type: "probe", Error: err.Error()}}}, nil
			}
			return "", nil, err
		}
	}
	r, err := pipeline.Resolve(a, c)
	return r, c, err
}
