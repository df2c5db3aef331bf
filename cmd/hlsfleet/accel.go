package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/jobexec"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/worker"
)

// jobexec.EnvAccelCaps carries the capability probe (JSON) from a parent process
// (worker, transcode) to its job children, so the device is probed once.

// accelReport is what `hlsfleet probe --accel --json` prints.
type accelReport struct {
	*pipeline.Caps
	Summary string `json:"summary"`
	// Auto is what --accel auto resolves to here; AutoPath the path a plain
	// 8-bit H.264 source with an H.264 ladder takes.
	Auto     pipeline.Accel `json:"auto"`
	AutoPath string         `json:"auto_path"`
}

func newAccelReport(c *pipeline.Caps) accelReport {
	auto, _ := pipeline.Resolve(pipeline.AccelAuto, c)
	r := pipeline.Plan(auto, c, pipeline.Input{Codec: "h264", BitDepth: 8, Chroma: "4:2:0"}, []string{"h264"}, -1)
	return accelReport{Caps: c, Summary: c.Summary(), Auto: auto, AutoPath: r.Name}
}

// runProbeAccel is `hlsfleet probe --accel [--json] [--session-cap N]`.
func runProbeAccel(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.Bool("accel", true, "probe hardware accelerators instead of a media file")
	jsonOut := fs.Bool("json", false, "print one JSON object")
	sessionCap := fs.Int("session-cap", pipeline.DefaultSessionCap, "open at most this many encoder sessions when counting them")
	noIsolate := fs.Bool("no-isolate", false, "run libav in this process instead of a child (debugging)")
	if _, err := parseCommand(fs, args, "probe --accel [--json] [--session-cap N]", 0); err != nil {
		return err
	}
	if *sessionCap < 1 {
		return usageErr("--session-cap %d: want 1 or more", *sessionCap)
	}
	if !isolate.InChild() && !*noIsolate {
		// A driver that crashes in the probe costs the child, not a line of output.
		res, err := isolate.Run(context.Background(), isolate.Options{Args: append([]string{"probe"}, args...), ForwardSignals: true})
		if err != nil {
			return fmt.Errorf("probing accelerators: %w", err)
		}
		if res.ExitCode != 0 {
			return &exitError{code: res.ExitCode}
		}
		return nil
	}
	rep := newAccelReport(pipeline.ProbeAccel(pipeline.ProbeOptions{SessionCap: *sessionCap}))
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printAccelReport(os.Stdout, rep)
	return nil
}

func printAccelReport(w io.Writer, rep accelReport) {
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
	fmt.Fprintf(w, "--accel auto uses: %s (path %s); probe took %.0f ms\n", rep.Auto, rep.AutoPath, rep.ProbeSeconds*1000)
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

// parseAccelFlag checks an --accel value (a bad one is a usage error).
func parseAccelFlag(s string) (pipeline.Accel, error) {
	a, err := pipeline.ParseAccel(s)
	if err != nil {
		return "", usageErr("--accel: %v", err)
	}
	return a, nil
}

// workerAccel sets a worker up for its accelerator: probe once, resolve,
// size the session pool, pass the probe to job children, and wrap the
// runner with session admission.
func workerAccel(ctx context.Context, f workerFlags, base *worker.ProcessRunner, log *zap.Logger) (worker.Runner, string, error) {
	a, err := parseAccelFlag(f.accel)
	if err != nil {
		return nil, "", err
	}
	policy, err := worker.ParsePolicy(f.whenFull)
	if err != nil {
		return nil, "", usageErr("--when-full: %v", err)
	}
	if f.gpuSessions < 0 {
		return nil, "", usageErr("--gpu-sessions %d: want 0 (from the probe) or more", f.gpuSessions)
	}
	began := time.Now()
	resolved, caps, err := jobexec.ResolveAccel(ctx, a)
	if err != nil {
		return nil, "", err
	}
	summary := "accel cpu"
	if caps != nil {
		summary = fmt.Sprintf("accel %s; %s", resolved, caps.Summary())
		if err := os.Setenv(jobexec.EnvAccelCaps, jobexec.CapsEnv(caps)[len(jobexec.EnvAccelCaps)+1:]); err != nil {
			return nil, "", err
		}
	}
	r := &worker.AccelRunner{Base: base, Accel: string(resolved), Policy: policy, Logger: log}
	sessions := 0
	if resolved != pipeline.AccelCPU {
		sessions = caps.Sessions(resolved, "h264")
		if f.gpuSessions > 0 {
			sessions = f.gpuSessions
		}
		if sessions > 0 {
			r.Pool = worker.NewSessions(sessions)
		}
	}
	log.Info("accelerator", zap.String("requested", string(a)), zap.String("accel", string(resolved)),
		zap.Int("encoder_sessions", sessions), zap.String("when_full", string(policy)),
		zap.String("probe", summary), zap.Duration("probe_time", time.Since(began)))
	return r, summary, nil
}

// withAccelReadyz appends the accelerator line to the /readyz body (the
// status code stays the worker's).
func withAccelReadyz(h http.Handler, line string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/readyz" {
			_, _ = io.WriteString(w, line+"\n")
		}
	})
}
