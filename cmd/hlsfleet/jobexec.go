package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/pipeline"
	"github.com/hlsfleet/hlsfleet/storage"
	"github.com/hlsfleet/hlsfleet/worker"
)

// runJobExec is the child a worker starts for each job: the job JSON on
// stdin, progress and the result as JSON lines on stdout (worker.ExecEvent),
// logs on stderr, exit 0 / 2 (input fault) / 1 like every command.
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
	body, err := io.ReadAll(io.LimitReader(os.Stdin, job.MaxSize+1))
	if err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	j, err := job.Parse(body)
	if err != nil {
		return err
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(runtime.NumCPU(), 16)) // see transcodeHere
	}
	log := newLogger(os.Getenv("HLSFLEET_LOG_LEVEL")).With(zap.String("job_id", j.ID))
	defer log.Sync() //nolint:errcheck
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ev := newEventWriter(os.Stdout)
	if j.Kind == job.KindLiveSegment {
		done, err := execLive(ctx, j, log)
		if err != nil {
			log.Warn("job failed", zap.Error(err))
			return fmt.Errorf("job %s: %w", j.ID, err)
		}
		return ev.write(done)
	}
	published, res, err := execJobAccel(ctx, j, log, ev.progress, jobAccel{accel: accel, gpuSessions: *gpuSessions})
	if err != nil {
		log.Warn("job failed", zap.Error(err))
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	done := worker.ExecEvent{Event: "done", Published: published}
	if res != nil {
		done.Duration, done.Speed, done.Renditions = res.Duration, res.Speed, len(res.Renditions)+len(res.Audio)
		for _, r := range append(res.Renditions, res.Audio...) {
			done.BytesOut += r.Bytes
		}
		done.Extras = extrasOf(res)
	}
	return ev.write(done)
}

// execJob transcodes one job from its source URL to its output URL.
func execJob(ctx context.Context, j *job.Job, log *zap.Logger, progress func(pipeline.Progress)) (bool, *pipeline.Result, error) {
	return execJobAccel(ctx, j, log, progress, jobAccel{accel: pipeline.AccelCPU})
}

// jobAccel is the accelerator a job runs with and how many renditions may
// use the device's encoders (0: no cap).
type jobAccel struct {
	accel       pipeline.Accel
	gpuSessions int
}

func execJobAccel(ctx context.Context, j *job.Job, log *zap.Logger, progress func(pipeline.Progress), ax jobAccel) (bool, *pipeline.Result, error) {
	if j.Kind != job.KindVOD {
		return false, nil, fmt.Errorf("%w: job kind %q is not handled by this worker yet", job.ErrPermanent, j.Kind)
	}
	ladder, err := loadLadder(j.LadderName(), j.SegmentSeconds)
	if err != nil {
		return false, nil, fmt.Errorf("%w: %w", job.ErrPermanent, err)
	}
	out, err := storage.Open(ctx, j.Output)
	if err != nil {
		return false, nil, fmt.Errorf("opening the output %s: %w", j.Output, err)
	}
	defer out.Close()
	if ok, err := out.Exists(ctx, pipeline.MasterName); err == nil && ok {
		log.Info("already published", zap.String("output", j.Output))
		return false, nil, nil
	}
	opt := pipeline.Options{
		Input: j.Source, Ladder: ladder, SegmentType: pipeline.SegmentType(j.SegmentType),
		Progress: progress, Logger: log,
		Accel: ax.accel, GPUSessions: ax.gpuSessions, Caps: capsFromEnv(),
	}
	if isS3(j.Source) {
		closeSrc, err := openS3Source(ctx, j.Source, &opt)
		if err != nil {
			return false, nil, err
		}
		defer closeSrc()
	} else {
		src, err := job.ParseLocation(j.Source)
		if err != nil {
			return false, nil, err
		}
		opt.Input = src.Path
	}
	res, err := pipeline.Transcode(ctx, opt, &worker.StorageSink{Ctx: ctx, Bucket: out})
	if errors.Is(err, storage.ErrExists) {
		log.Info("another worker published first", zap.String("output", j.Output))
		return false, nil, nil
	}
	if err != nil {
		if errors.Is(err, pipeline.ErrInput) {
			err = fmt.Errorf("%w: %w", job.ErrPermanent, err)
		}
		return false, nil, err
	}
	return true, res, nil
}

// eventWriter writes worker.ExecEvent lines, progress at most every 500 ms.
type eventWriter struct {
	mu   sync.Mutex
	enc  *json.Encoder
	last time.Time
	t0   time.Time
}

func newEventWriter(w io.Writer) *eventWriter {
	return &eventWriter{enc: json.NewEncoder(w), t0: time.Now()}
}

func (e *eventWriter) write(ev worker.ExecEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enc.Encode(ev)
}

func (e *eventWriter) progress(p pipeline.Progress) {
	now := time.Now()
	e.mu.Lock()
	if now.Sub(e.last) < 500*time.Millisecond {
		e.mu.Unlock()
		return
	}
	e.last = now
	e.mu.Unlock()
	ev := worker.ExecEvent{Event: "progress", MediaSeconds: p.Seconds}
	if p.Duration > 0 {
		ev.Percent = min(100, 100*p.Seconds/p.Duration)
	}
	if el := now.Sub(e.t0).Seconds(); el > 0 {
		ev.Speed = p.Seconds / el
	}
	_ = e.write(ev)
}

// extrasOf is what job.json reports of a result besides the playlists.
func extrasOf(res *pipeline.Result) worker.Extras {
	e := worker.Extras{Quality: res.Quality, Poster: res.Poster}
	if res.Storyboard != nil {
		e.Storyboard = res.Storyboard.VTT
	}
	if res.MP4 != nil {
		e.MP4 = res.MP4.Name
	}
	return e
}
