package main

import (
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/worker"
)

// toURL turns a command-line location into a job URL: URLs stay as they
// are, local paths become absolute file:// URLs.
func toURL(loc string) (string, error) {
	if strings.Contains(loc, "://") {
		return loc, nil
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// queueURL accepts local:///dir, local://relative/dir, a bare directory, or an SQS URL.
func queueURL(q string) (string, error) {
	if q == "" {
		return "", usageErr("--queue is required")
	}
	if strings.HasPrefix(q, "http://") || strings.HasPrefix(q, "https://") {
		return q, nil
	}
	dir := strings.TrimPrefix(q, "local://")
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return "local://" + filepath.ToSlash(abs), nil
}

type workerFlags struct {
	queue, dlq, metricsAddr, rules, logLevel string
	liveQueue                                string
	concurrency                              int
	visibility, drain                        time.Duration
	maxMemoryMiB                             int64
	// setup, when set, runs once the queue is open and before the worker
	// starts; the sink it returns receives the worker's job events (the
	// dashboard of `hlsfleet local`).
	setup     func(ctx context.Context, q queue.Queue, log *zap.Logger) (worker.EventSink, error)
	lifecycle lifecycleFlags // worker only
	// accelerators (accel.go)
	accel, fallbackQueue, whenFull string
	gpuSessions                    int
	events                         eventFlags
	jobEvents                      *jobEvents // opened from events by runWorker/runLocal
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dlq, "dlq", "", "dead-letter queue URL (SQS; the local queue keeps its own)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "jobs at once (default: half the cores, at least 1)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9090", "address for /metrics, /healthz and /readyz (empty = off)")
	fs.DurationVar(&f.visibility, "visibility", 5*time.Minute, "lease per job, extended every third of it while the job runs")
	fs.DurationVar(&f.drain, "drain-timeout", 2*time.Minute, "on SIGTERM, how long running jobs may finish before they are released")
	fs.Int64Var(&f.maxMemoryMiB, "max-memory", 0, "per-job memory limit in MiB (0 = none)")
	fs.StringVar(&f.rules, "rules", "", "JSON file of S3-event rules (default: the built-in rules)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.accel, "accel", "auto", "accelerator: auto, cpu, nvidia, vaapi or qsv (probed at start)")
	fs.StringVar(&f.fallbackQueue, "fallback-queue", "", "second queue read when --queue is idle (a GPU worker helping the CPU queue)")
	fs.IntVar(&f.gpuSessions, "gpu-sessions", 0, "encoder sessions the device may run at once (0 = as the probe counted)")
	fs.StringVar(&f.whenFull, "when-full", "spill", "when the device's sessions are taken: spill (renditions to CPU encoders) or wait")
	f.events.register(fs, true)
}

func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var f workerFlags
	fs.StringVar(&f.queue, "queue", "", "queue URL: an SQS queue URL or local:///dir")
	fs.StringVar(&f.liveQueue, "live-queue", "", "forward live-segment jobs (S3 events under live/) to this FIFO queue, grouped by stream")
	f.register(fs)
	f.lifecycle.register(fs)
	if _, err := parseCommand(fs, args, "worker --queue URL [--dlq URL] [--live-queue URL] [--concurrency N] [--metrics-addr ADDR] [--accel auto|cpu|nvidia|vaapi|qsv] [--fallback-queue URL]", 0); err != nil {
		return err
	}
	ev, err := f.openEvents()
	if err != nil {
		return err
	}
	defer ev.close(eventsDrain)
	f.jobEvents = ev
	return serveWorker(f, nil)
}

// serveWorker runs a worker until SIGINT/SIGTERM (two-stage: drain, then
// release). extra, when set, runs beside it until it stops (the inbox watcher).
func serveWorker(f workerFlags, extra func(ctx context.Context, q queue.Queue, log *zap.Logger)) error {
	log := newLogger(f.logLevel)
	defer log.Sync() //nolint:errcheck
	qurl, err := queueURL(f.queue)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: f.dlq})
	if err != nil {
		return fmt.Errorf("opening queue %s: %w", qurl, err)
	}
	defer q.Close()
	if f.fallbackQueue != "" {
		furl, err := queueURL(f.fallbackQueue)
		if err != nil {
			return err
		}
		fq, err := queue.Open(ctx, furl, queue.Options{DLQ: f.dlq})
		if err != nil {
			return fmt.Errorf("opening the fallback queue %s: %w", furl, err)
		}
		q = queue.WithFallback(q, fq) // closes fq with q
		log.Info("fallback queue", zap.String("queue", furl))
	}
	runner, accelLine, err := workerAccel(ctx, f, &worker.ProcessRunner{MemoryLimit: f.maxMemoryMiB << 20}, log)
	if err != nil {
		return err
	}
	rules := job.DefaultRules()
	if f.rules != "" {
		data, err := os.ReadFile(f.rules)
		if err != nil {
			return usageErr("--rules: %v", err)
		}
		if rules, err = job.ParseRules(data); err != nil {
			return err
		}
	}
	var events worker.EventSink
	if f.setup != nil {
		if events, err = f.setup(ctx, q, log); err != nil {
			return err
		}
	}
	var liveQ queue.Queue
	if f.liveQueue != "" {
		lurl, err := queueURL(f.liveQueue)
		if err != nil {
			return err
		}
		if lurl == qurl {
			return usageErr("--live-queue must differ from --queue")
		}
		if liveQ, err = queue.Open(ctx, lurl, queue.Options{}); err != nil {
			return fmt.Errorf("opening live queue %s: %w", lurl, err)
		}
		defer liveQ.Close()
	}
	host, _ := os.Hostname()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if ar, ok := runner.(*worker.AccelRunner); ok {
		if err := ar.Register(reg); err != nil {
			return err
		}
	}
	f.jobEvents.register(reg)
	w, err := worker.New(worker.Config{
		Queue: q, Rules: rules, Outputs: worker.StorageOutputs{},
		Runner:      runner,
		Concurrency: f.concurrency, Visibility: f.visibility, DrainTimeout: f.drain,
		WorkerID: fmt.Sprintf("%s-%d", host, os.Getpid()), Logger: log, Metrics: worker.NewMetrics(reg),
		Events:    combineEvents(events, f.jobEvents.sink()),
		LiveQueue: liveQ,
	})
	if err != nil {
		return err
	}
	finishLifecycle, err := f.lifecycle.start(w, log, reg)
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: withAccelReadyz(worker.Handler(w, reg), accelLine), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	}
	// A second signal while draining cancels the running jobs at once.
	go func() {
		<-ctx.Done()
		second := make(chan os.Signal, 1)
		signal.Notify(second, syscall.SIGINT, syscall.SIGTERM)
		<-second
		log.Warn("second signal: releasing running jobs now")
		w.Stop()
	}()
	if extra != nil {
		go extra(ctx, q, log)
	}
	log.Info("worker started", zap.String("queue", qurl))
	return finishLifecycle(w.Run(ctx))
}

func runSubmit(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	qflag := fs.String("queue", "", "queue URL: an SQS queue URL or local:///dir")
	ladder := fs.String("ladder", "", "ladder preset name (default: default)")
	segType := fs.String("segment-type", "", "ts or fmp4")
	segSeconds := fs.Float64("segment-seconds", 0, "segment duration in seconds")
	wait := fs.Bool("wait", false, "wait until the job is published or failed, showing progress")
	var evf eventFlags
	evf.register(fs, false)
	timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (0 = never)")
	liveStream := fs.String("live-stream", "", "a live-segment job of this stream (FIFO group = stream)")
	liveSeq := fs.Int64("live-seq", 0, "with --live-stream: the segment's sequence number")
	liveEnd := fs.Bool("live-end", false, "with --live-stream: the end-of-stream job")
	pos, err := parseCommand(fs, args, "submit --queue URL [--ladder NAME] [--live-stream NAME --live-seq N|--live-end] INPUT OUTPUT [--wait]", 2)
	if err != nil {
		return err
	}
	src, err := toURL(pos[0])
	if err != nil {
		return err
	}
	out, err := toURL(pos[1])
	if err != nil {
		return err
	}
	var opts []job.Option
	if *ladder != "" {
		opts = append(opts, job.WithLadder(*ladder))
	}
	if *segType != "" {
		opts = append(opts, job.WithSegmentType(*segType))
	}
	if *segSeconds > 0 {
		opts = append(opts, job.WithSegmentSeconds(*segSeconds))
	}
	if *liveStream != "" {
		if *wait {
			return usageErr("submit: --wait follows VOD jobs only")
		}
		opts = append(opts, job.WithLive(*liveStream, *liveSeq, *liveEnd))
	} else if *liveEnd || *liveSeq != 0 {
		return usageErr("submit: --live-seq and --live-end need --live-stream")
	}
	j := job.New(src, out, opts...)
	if err := j.Validate(); err != nil {
		return err
	}
	qurl, err := queueURL(*qflag)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q, err := queue.Open(ctx, qurl, queue.Options{})
	if err != nil {
		return fmt.Errorf("opening queue %s: %w", qurl, err)
	}
	defer q.Close()
	// A failed delivery of the "queued" event is a warning, never a failed
	// submit: the job is queued.
	ev, err := evf.open(ctx, newLogger("warn"), qurl)
	if err != nil {
		return err
	}
	if _, err := queue.SendJob(ctx, q, j); err != nil {
		ev.close(0)
		return fmt.Errorf("sending the job: %w", err)
	}
	fmt.Println(j.ID)
	ev.queued(j)
	ev.close(eventsDrain)
	if !*wait {
		return nil
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	return waitForJob(ctx, j)
}

// waitForJob follows <output>/job.json until the job is published or failed.
func waitForJob(ctx context.Context, j *job.Job) error {
	b, err := storage.Open(ctx, j.Output)
	if err != nil {
		return err
	}
	defer b.Close()
	tty := isTerminal(os.Stderr)
	last := ""
	for {
		data, err := b.ReadAll(ctx, worker.StatusName)
		if err == nil {
			var st worker.Status
			if json.Unmarshal(data, &st) == nil && st.JobID == j.ID {
				line := fmt.Sprintf("%s %s %.0f%% (attempt %d)", st.JobID, st.State, st.Progress, st.Attempt)
				if line != last {
					if tty {
						fmt.Fprintf(os.Stderr, "\r%s   ", line)
					} else {
						fmt.Fprintln(os.Stderr, line)
					}
					last = line
				}
				switch st.State {
				case "published":
					if tty {
						fmt.Fprintln(os.Stderr)
					}
					fmt.Println(strings.TrimSuffix(j.Output, "/") + "/master.m3u8")
					return nil
				case "failed":
					if tty {
						fmt.Fprintln(os.Stderr)
					}
					return fmt.Errorf("%w: job %s failed: %s", job.ErrPermanent, j.ID, st.Error)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for job %s: %w", j.ID, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}
