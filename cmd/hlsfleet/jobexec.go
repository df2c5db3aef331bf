package main

import (
	"flag"
	"os"

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
	if _, err := parseCommand(fs, args, "job-exec [--accel A] [--gpu-sessions N] < job.json", 0); err != nil {
		return err
	}
	accel, err := parseAccelFlag(*accelFlag)
	if err != nil {
		return err
	}
	log := newLogger(os.Getenv("HLSFLEET_LOG_LEVEL"))
	defer log.Sync() //nolint:errcheck
	return jobexec.Main(jobexec.Config{Accel: accel, GPUSessions: *gpuSessions, Caps: jobexec.CapsFromEnv(), Logger: log}, os.Stdin, os.Stdout)
}
