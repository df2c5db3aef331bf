package main

import (
	"flag"
	"os"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec"
)

// runJobExec is the child a worker starts for each job (package jobexec):
// the job JSON on stdin, progress and the result as JSON lines on stdout
// (jobexec/protocol), logs on stderr, exit 0 / 2 (input fault) / 1 like
// every command.
func runJobExec(args []string) error {
	// --accel and --gpu-sessions come from the worker's session admission
	// (worker.AccelRunner); the probe comes in HLSFLEET_ACCEL_CAPS.
	fs := flag.NewFlagSet("job-exec", flag.ContinueOnError)
	accelFlag := fs.String("accel", "cpu", "accelerator for this job")
	gpuSessions := fs.Int("gpu-sessions", 0, "renditions that may use the device's encoders (0: no cap)")
	// --chunk-seconds and --worker-id come from the worker's flags; the
	// Lambda's inline run passes --single-pass.
	chunkSeconds := fs.Float64("chunk-seconds", job.DefaultChunkSeconds, "the worker's default chunk length for long VOD jobs (0: only jobs and ladders that ask are chunked)")
	singlePass := fs.Bool("single-pass", false, "never split a job into chunk jobs")
	workerID := fs.String("worker-id", "", "the worker's id, recorded in chunks.json")
	ladderDir := fs.String("ladder-dir", "", "the folder ladder files may come from (the worker's --ladder-dir); empty: presets only")
	if _, err := parseCommand(fs, args, "job-exec [--accel A] [--gpu-sessions N] [--chunk-seconds S] [--single-pass] [--worker-id ID] [--ladder-dir DIR] < job.json", 0); err != nil {
		return err
	}
	if err := checkChunkSeconds(*chunkSeconds); err != nil {
		return err
	}
	accel, err := parseAccelFlag(*accelFlag)
	if err != nil {
		return err
	}
	log := newLogger(os.Getenv("HLSFLEET_LOG_LEVEL"))
	defer log.Sync() //nolint:errcheck
	return jobexec.Main(jobexec.Config{Accel: accel, GPUSessions: *gpuSessions, Caps: jobexec.CapsFromEnv(),
		ChunkSeconds: *chunkSeconds, SinglePass: *singlePass, WorkerID: *workerID, LadderDir: *ladderDir, Logger: log}, os.Stdin, os.Stdout)
}

// checkChunkSeconds checks a --chunk-seconds value (a bad one is a usage
// error): 0 (only jobs and ladders that ask are chunked) or in
// (0, job.MaxChunkSeconds].
func checkChunkSeconds(s float64) error {
	if !(s == 0 || s > 0 && s <= job.MaxChunkSeconds) {
		return usageErr("--chunk-seconds %v: want 0 (chunk only jobs and ladders that ask) or seconds in (0, %d]", s, job.MaxChunkSeconds)
	}
	return nil
}
