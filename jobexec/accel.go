package jobexec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// WorkerAccel is a worker's accelerator, resolved once at its start.
type WorkerAccel struct {
	Accel pipeline.Accel // what the worker's --accel resolved to
	// Sessions is how many encoder sessions the worker's jobs share on the
	// device (0: no session limit, on the CPU or with none counted).
	Sessions int
	// Summary is "accel cpu", or "accel A; " and the probe's summary.
	Summary string
}

// ResolveWorkerAccel resolves a worker's accelerator a (ResolveAccel: one
// probe, in a child), puts the probe in this process's environment
// (EnvAccelCaps) so that its job children do not probe again, and sizes
// the device's encoder sessions: sessions when above 0, else the probe's
// count of H.264 sessions.
func ResolveWorkerAccel(ctx context.Context, a pipeline.Accel, sessions int) (WorkerAccel, error) {
	resolved, caps, err := ResolveAccel(ctx, a)
	if err != nil {
		return WorkerAccel{}, err
	}
	wa := WorkerAccel{Accel: resolved, Summary: "accel cpu"}
	if caps != nil {
		wa.Summary = fmt.Sprintf("accel %s; %s", resolved, caps.Summary())
		if err := os.Setenv(EnvAccelCaps, strings.TrimPrefix(CapsEnv(caps), EnvAccelCaps+"=")); err != nil {
			return WorkerAccel{}, err
		}
	}
	if resolved != pipeline.AccelCPU {
		wa.Sessions = caps.Sessions(resolved, "h264")
		if sessions > 0 {
			wa.Sessions = sessions
		}
	}
	return wa, nil
}

// AccelReport is what `hlsfleet probe --accel --json` prints.
type AccelReport struct {
	*pipeline.Caps
	Summary string `json:"summary"`
	// Auto is what --accel auto resolves to here; AutoPath the path a plain
	// 8-bit H.264 source with an H.264 ladder takes.
	Auto     pipeline.Accel `json:"auto"`
	AutoPath string         `json:"auto_path"`
}

// NewAccelReport describes the probe c and what --accel auto makes of it.
func NewAccelReport(c *pipeline.Caps) AccelReport {
	auto, _ := pipeline.Resolve(pipeline.AccelAuto, c)
	r := pipeline.Plan(auto, c, pipeline.Input{Codec: "h264", BitDepth: 8, Chroma: "4:2:0"}, []string{"h264"}, -1)
	return AccelReport{Caps: c, Summary: c.Summary(), Auto: auto, AutoPath: r.Name}
}

// WriteText writes the report as `hlsfleet probe --accel` prints it.
func (rep AccelReport) WriteText(w io.Writer) error {
	for _, d := range rep.Devices {
		name := d.Type
		if d.Device != "" {
			name += " " + d.Device
		}
		if !d.Opened {
			fmt.Fprintf(w, "%-24s not available: %s\n", name, d.Error)
			continue
		}
		fmt.Fprintf(w, "%-24s opened; hardware decode: %s\n", name, orDash(strings.Join(d.Decoders, ", ")))
		for _, e := range d.Encoders {
			if !e.Opened {
				fmt.Fprintf(w, "  %-22s does not open: %s\n", e.Name, firstLine(e.Error))
				continue
			}
			more := ""
			if e.SessionsCapped {
				more = " (probe cap; the device may take more)"
			}
			fmt.Fprintf(w, "  %-22s encodes; %d concurrent sessions%s\n", e.Name, e.Sessions, more)
		}
	}
	fmt.Fprintln(w, rep.Summary)
	_, err := fmt.Fprintf(w, "--accel auto uses: %s (path %s); probe took %.0f ms\n", rep.Auto, rep.AutoPath, rep.ProbeSeconds*1000)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
