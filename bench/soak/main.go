// Command soak is `make soak`: the fleet under chaos for a given number of
// minutes, then a check that nothing was lost, torn, wrongly dead-lettered
// or left with a stale status (issue P).
//
// Usage:
//
//	go run ./bench/soak -hlsfleet bin/hlsfleet [-minutes 10] [-seed N] [-keep DIR]
//
// It starts its own S3 (versitygw) and SQS (fauxqs) peers on free 127.0.0.1
// ports (internal/peers), a bucket, and a queue whose dead-letter queue takes
// a message after -max-receive receives (3). Three `hlsfleet worker`
// processes (concurrency 1, --visibility 30s, --drain-timeout 10s) read the
// queue; their S3 endpoint is a fault proxy (internal/faultproxy) in front of
// the S3 peer. A worker that dies is started again a second later.
//
// For -minutes the soak then submits, about -jobs-per-minute a minute, a
// seeded mix of: jobs for small generated clips; duplicates of them (a new
// job for the same output, or the same message again); raw S3 event
// notifications of clips uploaded under uploads/ (the workers' --rules map
// them to out/events/<stem>/), the same notification again, and a manual
// job for an event's output; and garbage: a job whose source is random
// bytes, one whose source does not exist, and a message that is no job. It
// injects faults about every -fault-every, in shuffled rounds of four:
// kill -9 of a worker, SIGTERM of a worker (it drains and exits), SIGSTOP of
// a worker and its job child for -stop-for (20 s), and an S3 outage of
// -outage-for (10 s) during which the proxy resets every connection. A fault
// waits up to half -fault-every for a worker that is running a job (a
// process in its group besides itself), so that faults hit work, then
// strikes anyway. Every submission and fault is printed (stderr) with its
// time; the seed is printed, and -seed replays the same plan.
//
// Then a quiet period: no more submissions or faults, every worker running,
// until the queue is empty (or -settle runs out). The workers are stopped and
// every output is read straight from the S3 peer and judged (check.go):
//
//   - lost: good work with no published master and no dead letter;
//   - torn: a published master that reaches a missing object or one
//     modified after the master, or whose BANDWIDTH / AVERAGE-BANDWIDTH
//     differ from what the stored segments give, or (for up to -hlscheck
//     outputs) that internal/hlscheck finds invalid;
//   - wrongly dead-lettered: a dead letter of good work;
//   - stale status: job.json not "published" (or naming other playlists)
//     where the master exists, or "published" where it does not.
//
// The report (stdout) gives those four counts, the faults, submissions,
// receives, dead letters and the reasons garbage was dead-lettered with. The
// exit status is 1 when any of the four is not 0 (or an output could not be
// read), 2 on bad flags, 1 on errors. The run's folder (worker logs, peer
// logs) is kept on failure, or with -keep.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options is the command line.
type options struct {
	hlsfleet      string
	minutes       float64
	seed          uint64
	workers       int
	perMinute     float64
	faultEvery    time.Duration
	stopFor       time.Duration
	outageFor     time.Duration
	visibility    time.Duration
	drain         time.Duration
	maxReceive    int
	settle        time.Duration
	hlscheckLimit int
	keep          string
}

func (o options) chaos() time.Duration { return time.Duration(o.minutes * float64(time.Minute)) }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.hlsfleet, "hlsfleet", "", "path of the hlsfleet binary (required)")
	fs.Float64Var(&o.minutes, "minutes", 10, "minutes of chaos (submissions and faults) before the quiet period")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the plan of submissions and faults (0: from the clock; printed)")
	fs.IntVar(&o.workers, "workers", 3, "hlsfleet worker processes")
	fs.Float64Var(&o.perMinute, "jobs-per-minute", 8, "submissions a minute (on average)")
	fs.DurationVar(&o.faultEvery, "fault-every", 30*time.Second, "mean time between faults")
	fs.DurationVar(&o.stopFor, "stop-for", 20*time.Second, "how long a SIGSTOPped worker stays stopped")
	fs.DurationVar(&o.outageFor, "outage-for", 10*time.Second, "how long an S3 outage lasts")
	fs.DurationVar(&o.visibility, "visibility", 30*time.Second, "the workers' --visibility (lease)")
	fs.DurationVar(&o.drain, "drain-timeout", 10*time.Second, "the workers' --drain-timeout")
	fs.IntVar(&o.maxReceive, "max-receive", 3, "receives after which the queue moves a message to the dead-letter queue")
	fs.DurationVar(&o.settle, "settle", 5*time.Minute, "longest quiet period waiting for the queue to empty")
	fs.IntVar(&o.hlscheckLimit, "hlscheck", 10, "published outputs validated with internal/hlscheck (-1: all)")
	fs.StringVar(&o.keep, "keep", "", "keep the run's folder (logs, data) here; default: a temporary one, kept only on failure")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.hlsfleet == "" || fs.NArg() != 0:
		return o, errors.New("-hlsfleet is required and no arguments are taken")
	case o.minutes <= 0 || o.workers < 1 || o.perMinute <= 0 || o.faultEvery <= 0 || o.maxReceive < 1:
		return o, errors.New("-minutes, -workers, -jobs-per-minute, -fault-every and -max-receive must be positive")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	failed, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// workDir makes the run's folder and returns it with a function that
// removes it (unless kept) once the run is over.
func workDir(o options) (string, func(keep bool), error) {
	if o.keep != "" {
		dir, err := filepath.Abs(o.keep)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		return dir, func(bool) {}, err
	}
	dir, err := os.MkdirTemp("", "hlsfleet-soak-")
	return dir, func(keep bool) {
		if keep {
			fmt.Fprintf(os.Stderr, "soak: logs and data kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}, err
}
