package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	evsinks "github.com/hlsfleet/hlsfleet/events"
	"github.com/hlsfleet/hlsfleet/internal/rungroup"
	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/queue"
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
	chunkQueue                               string
	chunkSeconds                             float64
	ladderDir                                string
	concurrency                              int
	visibility, drain                        time.Duration
	maxMemoryMiB                             int64
	// setup, when set, runs once the queue is open and before the worker
	// starts; the sink it returns receives the worker's job events (the
	// dashboard of `hlsfleet local`). Its long-running parts are actors it
	// adds to g, which stop with the worker's first stage.
	setup     func(ctx context.Context, q queue.Queue, log *zap.Logger, g *rungroup.Group) (job.EventSink, error)
	lifecycle lifecycleFlags // worker only
	// accelerators (accel.go)
	accel, fallbackQueue, whenFull string
	gpuSessions                    int
	events                         eventFlags
	jobEvents                      *evsinks.Emitter // opened from events by runWorker/runLocal
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dlq, "dlq", "", "dead-letter queue URL (SQS; the local queue keeps its own)")
	fs.IntVar(&f.concurrency, "concurrency", 0, "jobs at once (default: half the cores, at least 1)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9090", "address for /metrics, /healthz and /readyz (empty = off)")
	fs.DurationVar(&f.visibility, "visibility", worker.DefaultVisibility, "lease per job, extended every third of it while the job runs")
	fs.StringVar(&f.ladderDir, "ladder-dir", "", "folder of ladder files jobs may name by file name (default: presets only; a job never names a path)")
	fs.Float64Var(&f.chunkSeconds, "chunk-seconds", job.DefaultChunkSeconds, "split VOD jobs longer than two chunks into chunk jobs of this many seconds, unless the job or its ladder says otherwise (0 = only jobs and ladders that ask)")
	fs.StringVar(&f.chunkQueue, "chunk-queue", "", "send the chunk jobs of long VOD jobs to this queue (default: the queue the job came from)")
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
	if _, err := parseCommand(fs, args, "worker --queue URL [--dlq URL] [--live-queue URL] [--chunk-queue URL] [--chunk-seconds S] [--concurrency N] [--metrics-addr ADDR] [--accel auto|cpu|nvidia|vaapi|qsv] [--fallback-queue URL]", 0); err != nil {
		return err
	}
	ev, err := f.openEvents()
	if err != nil {
		return err
	}
	defer ev.Close(eventsDrain)
	f.jobEvents = ev
	return serveWorker(f, nil)
}

// serveWorker runs a worker until SIGINT/SIGTERM (two-stage: drain, then
// release) or until one of its parts fails; every part is an actor of one
// run group (internal/rungroup). inbox, when set, runs beside the worker until it
// stops (the inbox watcher of `hlsfleet local`).
func serveWorker(f workerFlags, inbox func(ctx context.Context, q queue.Queue, log *zap.Logger)) error {
	log := newLogger(f.logLevel)
	defer log.Sync() //nolint:errcheck
	qurl, err := queueURL(f.queue)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := checkChunkSeconds(f.chunkSeconds); err != nil {
		return err
	}
	q, err := openWorkerQueue(ctx, f, qurl, log)
	if err != nil {
		return err
	}
	defer q.Close()
	// Each job's child gets the worker's chunking default and id (chunks.json).
	base := &worker.ProcessRunner{MemoryLimit: f.maxMemoryMiB << 20, Args: []string{"job-exec",
		"--chunk-seconds", strconv.FormatFloat(f.chunkSeconds, 'g', -1, 64), "--worker-id", fleetWorkerID(),
		"--ladder-dir", f.ladderDir}}
	runner, accelLine, err := workerAccel(ctx, f, base, log)
	if err != nil {
		return err
	}
	rules, err := workerRules(f.rules)
	if err != nil {
		return err
	}
	// Stop stage 1: what feeds or shows the worker, and the worker (it
	// stops receiving at once and drains).
	g := rungroup.New(log)
	defer g.Release()
	g.AddSignals(ctx)
	if inbox != nil {
		g.AddContext("inbox watcher", func(ctx context.Context) error { inbox(ctx, q, log); return nil })
	}
	var events job.EventSink
	if f.setup != nil {
		if events, err = f.setup(ctx, q, log, g); err != nil {
			return err
		}
	}
	qs, closeQueues, err := openSideQueues(ctx, f, q, qurl)
	if err != nil {
		return err
	}
	defer closeQueues()
	reg := prometheus.NewRegistry()
	w, err := newFleetWorker(f, qs, runner, rules, events, log, reg)
	if err != nil {
		return err
	}
	// Its two-stage stop: the interrupt begins the drain (receiving stops,
	// running jobs get --drain-timeout to finish, then they are canceled
	// and released), and a second SIGINT/SIGTERM while it drains cancels
	// the running jobs at once.
	g.AddTwoStage("worker", w.Run, func() {
		log.Warn("second signal: releasing running jobs now")
		w.Stop()
	})
	// Stage 2: the lifecycle controller, which completes a pending
	// lifecycle action once the worker has drained.
	g.NextStage()
	if err := f.lifecycle.add(g, w, log, reg); err != nil {
		return err
	}
	// Stage 3: the metrics, served until the very end.
	g.NextStage()
	if f.metricsAddr != "" {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: worker.Handler(w, reg, accelLine), ReadHeaderTimeout: 10 * time.Second}
		g.AddHTTP(rungroup.HTTPActor{Name: "metrics", Listener: ln, Server: srv})
	}
	log.Info("worker started", zap.String("queue", qurl))
	return g.Run()
}

// openWorkerQueue opens the worker's queue and, with --fallback-queue, the
// queue read when it is idle.
func openWorkerQueue(ctx context.Context, f workerFlags, qurl string, log *zap.Logger) (queue.Queue, error) {
	q, err := queue.Open(ctx, qurl, queue.Options{DLQ: f.dlq})
	if err != nil {
		return nil, fmt.Errorf("opening queue %s: %w", qurl, err)
	}
	if f.fallbackQueue == "" {
		return q, nil
	}
	furl, err := queueURL(f.fallbackQueue)
	if err != nil {
		q.Close()
		return nil, err
	}
	fq, err := queue.Open(ctx, furl, queue.Options{DLQ: f.dlq})
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("opening the fallback queue %s: %w", furl, err)
	}
	log.Info("fallback queue", zap.String("queue", furl))
	return queue.WithFallback(q, fq), nil // closes fq with q
}

// workerRules reads the --rules file, or returns the built-in rules.
func workerRules(file string) (job.Rules, error) {
	if file == "" {
		return job.DefaultRules(), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usageErr("--rules: %v", err)
	}
	return job.ParseRules(data)
}

// openSideQueues opens the queues a worker sends to besides its own:
// --live-queue (which must differ from --queue) and --chunk-queue (nil
// when absent or the worker's own: chunk jobs go back to the queue their
// job came from). The returned func closes them.
func openSideQueues(ctx context.Context, f workerFlags, q queue.Queue, qurl string) (queues, func(), error) {
	qs := queues{work: q}
	closeAll := func() {
		for _, o := range []queue.Queue{qs.live, qs.chunks} {
			if o != nil {
				o.Close()
			}
		}
	}
	for _, side := range []struct {
		flag, what string
		into       *queue.Queue
	}{{f.liveQueue, "live", &qs.live}, {f.chunkQueue, "chunk", &qs.chunks}} {
		if side.flag == "" {
			continue
		}
		u, err := queueURL(side.flag)
		if err == nil && u == qurl && side.what == "live" {
			err = usageErr("--live-queue must differ from --queue")
		}
		if err != nil {
			closeAll()
			return queues{}, nil, err
		}
		if u == qurl {
			continue
		}
		if *side.into, err = queue.Open(ctx, u, queue.Options{}); err != nil {
			closeAll()
			return queues{}, nil, fmt.Errorf("opening %s queue %s: %w", side.what, u, err)
		}
	}
	return qs, closeAll, nil
}

// queues are the worker's: the one it reads, where it forwards live
// segments and where it sends chunk jobs (nil: none, the job's own).
type queues struct{ work, live, chunks queue.Queue }

// fleetWorkerID is this worker's id: host name and process id. Its job
// children get it too (chunks.json names the worker of each chunk).
func fleetWorkerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// newFleetWorker makes the worker and registers its metrics (and the
// process's) in reg.
func newFleetWorker(f workerFlags, qs queues, runner worker.Runner, rules job.Rules, events job.EventSink,
	log *zap.Logger, reg *prometheus.Registry) (*worker.Worker, error) {
	q := qs.work
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if ar, ok := runner.(*worker.AccelRunner); ok {
		if err := ar.Register(reg); err != nil {
			return nil, err
		}
	}
	f.jobEvents.Register(reg)
	return worker.New(worker.Config{
		Queue: q, Rules: rules, Outputs: worker.NewStorageOutputs(),
		Runner:      runner,
		Concurrency: f.concurrency, Visibility: f.visibility, DrainTimeout: f.drain,
		MaxReceive: maxReceive(q, log),
		WorkerID:   fleetWorkerID(), Logger: log, Metrics: worker.NewMetrics(reg),
		Events:     evsinks.Combine(events, f.jobEvents.Sink()),
		LiveQueue:  qs.live,
		ChunkQueue: qs.chunks,
	})
}

// maxReceive is q's max receive count (queue.ReceiveLimited: the local
// queue's option, the SQS queue's RedrivePolicy), so that the worker
// dead-letters a message on its last receive with the reason it kept
// failing; 0 (the queue moves it, reason "max receives exceeded") when q
// does not tell (a --fallback-queue pair) or could not be asked.
func maxReceive(q queue.Queue, log *zap.Logger) int {
	rl, ok := q.(queue.ReceiveLimited)
	if !ok {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := rl.MaxReceive(ctx)
	if err != nil {
		log.Warn("reading the queue's max receive count failed; the queue dead-letters messages that keep failing without the reason", zap.Error(err))
		return 0
	}
	log.Info("queue max receive count", zap.Int("max_receive", n))
	return n
}

func runSubmit(args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	qflag := fs.String("queue", "", "queue URL: an SQS queue URL or local:///dir")
	ladder := fs.String("ladder", "", "ladder preset name (default: default)")
	segType := fs.String("segment-type", "", "ts or fmp4")
	segSeconds := fs.Float64("segment-seconds", 0, "segment duration in seconds")
	chunkSeconds := fs.Float64("chunk-seconds", 0, "split the job into chunks of this many seconds if it is longer than two (0 = never); unset: the ladder's or the worker's")
	wait := fs.Bool("wait", false, "wait until the job is published or failed, showing progress")
	var evf eventFlags
	evf.register(fs, false)
	timeout := fs.Duration("timeout", 0, "with --wait, give up after this long (0 = never)")
	liveStream := fs.String("live-stream", "", "a live-segment job of this stream (FIFO group = stream)")
	liveSeq := fs.Int64("live-seq", 0, "with --live-stream: the segment's sequence number")
	liveEnd := fs.Bool("live-end", false, "with --live-stream: the end-of-stream job")
	pos, err := parseCommand(fs, args, "submit --queue URL [--ladder NAME] [--chunk-seconds S] [--live-stream NAME --live-seq N|--live-end] INPUT OUTPUT [--wait]", 2)
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
	if flagSet(fs, "chunk-seconds") {
		opts = append(opts, job.WithChunkSeconds(*chunkSeconds))
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := submitJob(ctx, j, *qflag, evf); err != nil {
		return err
	}
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

// submitJob puts j on the queue qflag names, prints its id and tells the
// --events-* sinks it is queued.
func submitJob(ctx context.Context, j *job.Job, qflag string, evf eventFlags) error {
	if err := j.Validate(); err != nil {
		return err
	}
	qurl, err := queueURL(qflag)
	if err != nil {
		return err
	}
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
		ev.Close(0)
		return fmt.Errorf("sending the job: %w", err)
	}
	fmt.Println(j.ID)
	ev.Queued(j)
	ev.Close(eventsDrain)
	return nil
}

// waitForJob follows <output>/job.json until the job is published or
// failed, showing each change on stderr, then prints the master's URL.
func waitForJob(ctx context.Context, j *job.Job) error {
	show := worker.NewStatusLine(os.Stderr, isTerminal(os.Stderr))
	st, err := worker.WaitForStatus(ctx, j, show.Show)
	show.Finish(st)
	if err != nil {
		return err
	}
	if st.JobID != j.ID || (st.PublishedBy != "" && st.PublishedBy != j.ID) {
		// A duplicate submission: the output was published by another job.
		if by := worker.Publisher(st); by != "" {
			fmt.Fprintf(os.Stderr, "%s: the output is published by job %s\n", j.ID, by)
		} else {
			fmt.Fprintf(os.Stderr, "%s: the output is published (by an earlier job, not recorded which)\n", j.ID)
		}
	}
	fmt.Println(strings.TrimSuffix(j.Output, "/") + "/master.m3u8")
	return nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
