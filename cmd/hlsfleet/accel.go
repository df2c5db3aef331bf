package main

import (
	"context"
	"flag"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/internal/isolate"
	"github.com/hlsfleet/hlsfleet/jobexec"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/worker"
)

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
		return runChild(isolate.Options{Args: append([]string{"probe"}, args...)}, "probing accelerators")
	}
	rep := jobexec.NewAccelReport(pipeline.ProbeAccel(pipeline.ProbeOptions{SessionCap: *sessionCap}))
	if *jsonOut {
		return printJSON(rep)
	}
	return rep.WriteText(os.Stdout)
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
	wa, err := jobexec.ResolveWorkerAccel(ctx, a, f.gpuSessions)
	if err != nil {
		return nil, "", err
	}
	r := &worker.AccelRunner{Base: base, Accel: string(wa.Accel), Policy: policy, Logger: log}
	if wa.Sessions > 0 {
		r.Pool = worker.NewSessions(wa.Sessions)
	}
	log.Info("accelerator", zap.String("requested", string(a)), zap.String("accel", string(wa.Accel)),
		zap.Int("encoder_sessions", wa.Sessions), zap.String("when_full", string(policy)),
		zap.String("probe", wa.Summary), zap.Duration("probe_time", time.Since(began)))
	return r, wa.Summary, nil
}
