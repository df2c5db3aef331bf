// Package jobexec is what one job does inside the child process a worker
// (or the Lambda) starts for it: open the source, run the pipeline for a
// VOD job (split into chunk jobs when it is long: chunk.go), a chunk or a
// live segment, and publish into the job's output. cmd/hlsfleet's hidden `job-exec` command only parses its
// flags into a Config and calls Main; the protocol between that child and
// its parent (events on stdout, exit code <-> error class) is the
// jobexec/protocol package's.
//
// The pieces every job kind shares live here once: OpenSource (a local
// file or an S3 object read by range requests), StorageSink (the
// pipeline's output in storage, master as the conditional publish point)
// and OpenOutput (the transcode command's staged or streamed output).
package jobexec

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"go.uber.org/zap"

	"github.com/hlsfleet/hlsfleet/job"
	"github.com/hlsfleet/hlsfleet/jobexec/protocol"
	"github.com/hlsfleet/hlsfleet/pipeline"
)

// Config is how the child runs its job: the accelerator the worker's
// session admission granted, the worker's chunking default, and the
// logger.
type Config struct {
	Accel       pipeline.Accel // "" means cpu
	GPUSessions int            // renditions that may use the device's encoders (0: no cap)
	Caps        *pipeline.Caps // the worker's accelerator probe; nil: probe here if needed
	// ChunkSeconds is the worker's default chunk length (its
	// --chunk-seconds, by default job.DefaultChunkSeconds): a VOD job
	// whose own and whose ladder's chunk_seconds are unset is split into
	// chunk jobs of this length when it is longer than two of them. 0:
	// only jobs and ladders that ask for chunks get them.
	ChunkSeconds float64
	// SinglePass never splits a job into chunks, whatever the job or its
	// ladder asks: the Lambda's inline run, which has no queue to send
	// chunk jobs to and no time to wait for them.
	SinglePass bool
	// LadderDir is the folder the worker allows ladder files from (its
	// --ladder-dir); "" allows presets only. A job never names a path.
	LadderDir string
	// WorkerID names the worker in chunks.json; "" means the host name
	// and the parent's process id (the worker's default id).
	WorkerID string
	Logger   *zap.Logger // nil: no logs
}

// Main is the child: it reads one job (JSON) from stdin, runs it, and writes
// progress and the done event to stdout (protocol.Writer). The returned
// error's class is the child's exit code (protocol.ExitCode).
func Main(cfg Config, stdin io.Reader, stdout io.Writer) error {
	body, err := io.ReadAll(io.LimitReader(stdin, job.MaxSize+1))
	if err != nil {
		return fmt.Errorf("reading the job: %w", err)
	}
	j, err := job.Parse(body)
	if err != nil {
		return err
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// The goroutines here mostly sit in long cgo calls (decoder, filters,
		// encoders). With one P per core, each return from C waits for a P
		// and parks a thread: measured 3x the system time of the ffmpeg CLI.
		runtime.GOMAXPROCS(max(runtime.NumCPU(), 16))
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.Logger = cfg.Logger.With(zap.String("job_id", j.ID))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	w := protocol.NewWriter(stdout)
	done, err := Exec(ctx, cfg, j, func(p pipeline.Progress) { w.Progress(p.Seconds, p.Duration) })
	if err != nil {
		cfg.Logger.Warn("job failed", zap.Error(err))
		_ = w.Fail(err) // the class, for the parent (an infrastructure fault exits 1 too)
		return fmt.Errorf("job %s: %w", j.ID, err)
	}
	return w.Write(done)
}

// Exec runs one job of any kind and returns its done event. progress may be
// nil.
func Exec(ctx context.Context, cfg Config, j *job.Job, progress func(pipeline.Progress)) (protocol.Event, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch j.Kind {
	case job.KindVOD:
		return execVOD(ctx, cfg, j, progress)
	case job.KindLiveSegment:
		return execLive(ctx, cfg, j, cfg.Logger)
	case job.KindChunk:
		return execChunk(ctx, cfg, j, progress)
	}
	return protocol.Event{}, fmt.Errorf("%w: job kind %q is not handled by this worker yet", job.ErrPermanent, j.Kind)
}
